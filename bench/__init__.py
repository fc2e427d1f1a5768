"""MediaCraft benchmarks: `python -m bench.<name>`; `python -m bench` runs them all."""
