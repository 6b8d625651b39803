"""The outside world we read mentions from and send replies to: one package per integration."""
