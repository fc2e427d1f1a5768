"""`python -m mediacraft.scheduler`: see main."""

from mediacraft.scheduler.main import main

main()
