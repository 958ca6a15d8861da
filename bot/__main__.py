"""`python -m bot` is `tipline`."""

from bot.cli import main

raise SystemExit(main())
