"""MediaCraft cleanup service."""
