"""Benchmarks of webcare-bot against a real `webcare serve` process (see bench/README.md)."""
