"""casaudit: audit Exchange Client Access endpoints from the outside."""

__version__ = "0.1.0"
