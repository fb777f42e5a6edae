"""NC emerges regardless of optimiser: cross-entropy, K=10, n=10 (N=100), d=10 >= K-1, so the
closed form of THEORY.md §2b (``theory.ce_global_min``) gives f*.

Run:    .venv/bin/python experiments/optbench/run.py experiments/optbench/configs/ce.py
Tiny:   .venv/bin/python experiments/optbench/run.py experiments/optbench/configs/ce.py --tiny --out /tmp/x
Time:   about 5 min on 2 busy CPU cores (float64, 32 seeds, 200 000 steps, 20 log-spaced records per decade).
Expect: the full-batch optimisers reach f* with W a simplex ETF and h = c w^k (NC1-NC3 -> 0);
        minibatch SGD gets close and stalls at its noise floor.
"""
from configs.base import BASE, TINY as _TINY

CONFIG = {
    **BASE,
    "loss": "ce",
    "K": 10, "n": 10, "d": 10,
    "lambda-W": 5e-3, "lambda-H": 5e-3, "lambda-b": 5e-3,
    "batch-size": 20,
    "steps": 200000,
    "records-per-decade": 20,
}
TINY = {**CONFIG, **_TINY}
