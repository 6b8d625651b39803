"""Test doubles for external services (Slack Web API and Socket Mode)."""
