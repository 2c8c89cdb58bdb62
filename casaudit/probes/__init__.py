"""Probes: network I/O only. Each returns typed evidence and never judges it."""
