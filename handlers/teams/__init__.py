"""The Microsoft Teams transport: Bot Framework connector and inbound auth, Adaptive Card rendering."""
