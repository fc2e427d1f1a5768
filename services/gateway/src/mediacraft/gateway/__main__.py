"""`python -m mediacraft.gateway`."""

from mediacraft.gateway.main import main

main()
