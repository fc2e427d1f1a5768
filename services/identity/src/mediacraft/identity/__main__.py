"""`python -m mediacraft.identity`."""

from mediacraft.identity.main import main

main()
