"""NC emerges regardless of optimiser: vanilla MSE with bias, K=10, n=10 (N=100), d=20.

Command:   python -m experiments experiments/optbench/mse.py
Tiny:      python -m experiments experiments/optbench/mse.py --tiny --out /tmp/x
Run time:  about 5 min on 2 busy CPU cores (float64, 32 seeds, 200 000 steps, 20
           log-spaced records per decade; L-BFGS stops early).
Expected:  every seed of every full-batch optimiser reaches the closed-form f* (THEORY.md §2) and
           NC1-NC3 -> 0; minibatch SGD (batch 20, constant lr) stalls at a noise floor of the gap but
           its NC metrics still fall by orders of magnitude. λ = 5e-3 makes the slowest modes contract
           by (1 - lr λ) per GD step, so first-order methods need ~10^4 steps.
"""
from experiments.optbench.runner import BASE, TINY

RUNNER = "experiments.optbench.runner:run"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        **BASE,
        "loss": "mse",
        "K": 10, "n": 10, "d": 20,
        "lambda-W": 5e-3, "lambda-H": 5e-3, "lambda-b": 5e-3,
        "batch-size": 20,
        "steps": 200000,
        "records-per-decade": 20,
    }
    return {**cfg, **TINY} if tiny else cfg
