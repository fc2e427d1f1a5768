"""MediaCraft gateway service."""
