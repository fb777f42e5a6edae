"""Hessian-spectrum experiments: each module is one config + a ``main``; run with
``python -m experiments.hessian.<name> [--tiny] [--out DIR]`` from the repository root."""
