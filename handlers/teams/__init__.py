"""Microsoft Teams: the Bot Framework boundary, Adaptive Card renderers, listeners and the chat port."""
