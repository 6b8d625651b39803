"""Tests of webcare-bot; fakes of outside APIs live in tests/fakes/."""
