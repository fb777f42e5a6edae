"""NC emerges regardless of optimiser: cross-entropy, K=10, n=10 (N=100), d=10 >= K-1, so the
closed form of THEORY.md §2b (``theory.ce_global_min``) gives f*.

Command:   python -m experiments experiments/optbench/ce.py
Tiny:      python -m experiments experiments/optbench/ce.py --tiny --out /tmp/x
Run time:  about 5 min on 2 busy CPU cores (float64, 32 seeds, 200 000 steps, 20
           log-spaced records per decade).
Expected:  the full-batch optimisers reach f* with W a simplex ETF and h = c w^k (NC1-NC3 -> 0);
           minibatch SGD gets close and stalls at its noise floor.
"""
from experiments.optbench.runner import BASE, TINY

RUNNER = "experiments.optbench.runner:run"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        **BASE,
        "loss": "ce",
        "K": 10, "n": 10, "d": 10,
        "lambda-W": 5e-3, "lambda-H": 5e-3, "lambda-b": 5e-3,
        "batch-size": 20,
        "steps": 200000,
        "records-per-decade": 20,
    }
    return {**cfg, **TINY} if tiny else cfg
