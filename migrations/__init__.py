"""Alembic migrations of webcare-bot (date-prefixed revision files in versions/)."""
