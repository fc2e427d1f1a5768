"""Ports: the small Protocols every external system hides behind."""
