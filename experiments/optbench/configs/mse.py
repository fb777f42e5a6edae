"""NC emerges regardless of optimiser: vanilla MSE with bias, K=10, n=10 (N=100), d=20.

Run:    .venv/bin/python experiments/optbench/run.py experiments/optbench/configs/mse.py
Tiny:   .venv/bin/python experiments/optbench/run.py experiments/optbench/configs/mse.py --tiny --out /tmp/x
Time:   about 5 min on 2 busy CPU cores (float64, 32 seeds, 200 000 steps, 20 log-spaced records per decade; L-BFGS stops early).
Expect: every seed of every full-batch optimiser reaches the closed-form f* (THEORY.md §2) and
        NC1-NC3 -> 0; minibatch SGD (batch 20, constant lr) stalls at a noise floor of the gap but
        its NC metrics still fall by orders of magnitude. λ = 5e-3 makes the slowest modes contract
        by (1 - lr λ) per GD step, so first-order methods need ~10^4 steps.
"""
from configs.base import BASE, TINY as _TINY

CONFIG = {
    **BASE,
    "loss": "mse",
    "K": 10, "n": 10, "d": 20,
    "lambda-W": 5e-3, "lambda-H": 5e-3, "lambda-b": 5e-3,
    "batch-size": 20,
    "steps": 200000,
    "records-per-decade": 20,
}
TINY = {**CONFIG, **_TINY}
