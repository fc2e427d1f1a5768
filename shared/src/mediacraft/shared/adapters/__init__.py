"""Adapters for the ports; `factory` picks one by URL. Nothing here connects at import time."""
