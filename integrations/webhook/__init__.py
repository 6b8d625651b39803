"""The generic webhook integration: signed mention ingest in, signed replies out (CONTRACT.md)."""
