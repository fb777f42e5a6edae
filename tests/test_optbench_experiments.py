"""The optbench experiment configs run at their tiny size (STYLE.md 7-8, 15)."""
import csv
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments", "optbench"))

import run as optbench_experiment  # noqa: E402

CONFIGS = ["mse", "ce"]


@pytest.mark.parametrize("name", CONFIGS)
def test_experiment_config_runs_tiny(name, tmp_path):
    path = os.path.join(ROOT, "experiments", "optbench", "configs", f"{name}.py")
    full = optbench_experiment.load_config(path)
    tiny = optbench_experiment.load_config(path, tiny=True)
    # The tiny variant keeps the loss, weight decays and optimiser settings; it shrinks the problem.
    for k in ("loss", "lambda-W", "lambda-H", "lambda-b", "sgd-lr", "adam-lr", "momentum", "x64"):
        assert tiny[k] == full[k]
    assert tiny["batch-size"] < tiny["K"] * tiny["n"]  # sgd still runs on minibatches
    out = str(tmp_path / name)
    assert optbench_experiment.main([path, "--tiny", "--out", out]) == 0
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["f_star_source"] == "theory" and cfg["config"]["loss"] == name
    with open(os.path.join(out, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["optimizer"] for r in rows] == tiny["optimizers"].split(",")
    assert all(int(r["steps_run"]) == tiny["steps"] for r in rows if r["optimizer"] == "sgd")
    for f in ("summary.md", "curves_vs_iteration.png", "curves_vs_time.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0
    # Resuming a finished folder runs nothing.
    assert optbench_experiment.main([path, "--tiny", "--out", out]) == 0
