"""Optimiser-benchmark experiments (configs; logic in ``runner.py``): ``python -m experiments experiments/optbench/<name>.py``."""
