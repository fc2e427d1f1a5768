"""MediaCraft worker watermark service."""
