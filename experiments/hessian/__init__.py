"""Hessian-spectrum experiments (configs; logic in ``runner.py``): ``python -m experiments experiments/hessian/<name>.py``."""
