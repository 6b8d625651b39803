"""webcare-bot core: configuration, storage, services and pipeline. Imports no chat SDK."""
