"""Chat transports: Slack (Bolt) now, Teams (Bot Framework) later. Thin: parse, call a service, render."""
