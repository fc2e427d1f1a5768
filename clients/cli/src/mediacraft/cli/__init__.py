"""The `mediacraft` command-line client: MediaCraft's public HTTP API for scripts and terminals."""

__version__ = "0.1.0"
