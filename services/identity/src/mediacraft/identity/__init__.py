"""MediaCraft identity service."""
