"""MediaCraft worker merge service."""
