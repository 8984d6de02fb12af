"""``python -m fer ...``: see :mod:`fer.cli`."""

from fer.cli import main

raise SystemExit(main())
