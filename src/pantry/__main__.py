"""Allow ``python -m pantry``."""

from pantry.cli import main

raise SystemExit(main())
