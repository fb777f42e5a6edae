"""The optimiser-benchmark experiments' runner: a config is ``nclandscape optbench`` flags.

A config (``experiments/optbench/<name>.py``, run with ``python -m experiments
experiments/optbench/<name>.py``) returns ``nclandscape optbench`` flags without the leading
dashes; ``True`` means a bare flag. :func:`run` passes them to the command with ``--out``; a
re-run of the same folder resumes (a finished one runs nothing).
"""
from __future__ import annotations

# Defaults shared by the optbench experiments: the benchmark's optimisers with the papers'
# hyper-parameters (SGD lr 0.05, heavy-ball 0.9, Adam lr 1e-3, L-BFGS memory 10 with a zoom line
# search), 32 seeds, float64. A config overrides a few fields.
BASE = {
    "optimizers": "sgd,gd,momentum,adam,lbfgs",
    "seeds": 32,
    "sgd-lr": 0.05,
    "momentum": 0.9,
    "adam-lr": 1e-3,
    "lbfgs-history": 10,
    "x64": True,
}

# Every config's tiny variant (CI): the config's loss and flags on a small problem (K=4, n=3, d=5,
# minibatch 5; the shape of tests/optbench/test_optbench.py, so compiled programs are shared), 3 seeds,
# 40 steps, and two cheap-to-compile optimisers covering both step paths (minibatch sgd; a
# full-batch optax step under solve's stopping rule).
TINY = {"K": 4, "n": 3, "d": 5, "batch-size": 5, "seeds": 3, "steps": 40, "records-per-decade": 5,
        "optimizers": "sgd,momentum"}


def argv_of(config: dict, out: str) -> list[str]:
    argv = ["optbench"]
    for k, v in config.items():
        if v is True:
            argv.append(f"--{k}")
        elif v not in (False, None):
            argv += [f"--{k}", str(v)]
    return argv + ["--out", out]


def run(config: dict, out_dir: str) -> int:
    """``nclandscape optbench`` with the config's flags; raises SystemExit with the command's exit
    status if it fails (its message is already printed)."""
    from nclandscape import cli

    rc = cli.main(argv_of(config, out_dir))
    if rc:
        raise SystemExit(rc)
    return rc
