"""Landscape experiments (configs; logic in ``runner.py``): ``python -m experiments experiments/landscape/<name>.py``."""
