"""Parsers of bytes servers send. Servers under audit are hostile: every parser
is bounded and raises nothing but its own error type."""
