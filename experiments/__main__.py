"""``python -m experiments CONFIG [--tiny] [--out DIR] [--set KEY=VALUE]`` (see ``experiments/__init__.py``)."""
from experiments import main

raise SystemExit(main())
