"""`python -m mediacraft.cli` runs the same command as the `mediacraft` console script."""

from mediacraft.cli.main import main

raise SystemExit(main())
