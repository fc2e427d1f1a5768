"""`python -m mediacraft.cleanup`: see main.py."""

from mediacraft.cleanup.main import main

main()
