"""The Slack transport: Bolt listeners, Block Kit rendering, the Slack ChatPort, Socket Mode."""
