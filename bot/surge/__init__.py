"""Surges: storms of mentions on one post or topic, told apart and kept workable."""
