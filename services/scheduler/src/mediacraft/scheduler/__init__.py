"""MediaCraft scheduler service."""
