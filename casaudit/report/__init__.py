"""Renderers: they turn a `casaudit.scan/1` document into files and text, and decide nothing."""
