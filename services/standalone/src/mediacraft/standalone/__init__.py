"""MediaCraft in one process: the composition root of `make run`."""
