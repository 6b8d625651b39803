"""Services: the decisions. Keyword-only arguments, a session passed in, never a commit or a chat SDK."""
