"""The Teams transport: Bot Framework listeners and Adaptive Card rendering."""
