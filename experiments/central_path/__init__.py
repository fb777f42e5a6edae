"""Central path experiments (configs; logic in ``runner.py``): ``python -m experiments experiments/central_path/<name>.py``."""
