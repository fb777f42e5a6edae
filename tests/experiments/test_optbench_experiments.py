"""The optbench experiment configs run at their tiny size (STYLE.md 7-8, 15)."""
import csv
import json

import pytest

import experiments

CONFIGS = ["experiments/optbench/mse.py", "experiments/optbench/ce.py"]


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=["mse", "ce"])
def test_experiment_config_runs_tiny(path, tmp_path):
    _, full = experiments.load(path)
    _, tiny = experiments.load(path, tiny=True)
    # The tiny variant keeps the loss, weight decays and optimiser settings; it shrinks the problem.
    for k in ("loss", "lambda-W", "lambda-H", "lambda-b", "sgd-lr", "adam-lr", "momentum", "x64"):
        assert tiny[k] == full[k]
    assert tiny["batch-size"] < tiny["K"] * tiny["n"]  # sgd still runs on minibatches
    out = tmp_path / "out"
    assert experiments.main([path, "--tiny", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["f_star_source"] == "theory" and cfg["config"]["loss"] == full["loss"]
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["optimizer"] for r in rows] == tiny["optimizers"].split(",")
    assert all(int(r["steps_run"]) == tiny["steps"] for r in rows if r["optimizer"] == "sgd")
    for f in ("summary.md", "curves_vs_iteration.png", "curves_vs_time.png"):
        assert (out / f).stat().st_size > 0
    # Resuming a finished folder runs nothing.
    assert experiments.main([path, "--tiny", "--out", str(out)]) == 0


def test_a_failing_command_fails_the_run(tmp_path):
    with pytest.raises(SystemExit) as e:  # nclandscape optbench refuses K = 1 with exit code 2
        experiments.run(CONFIGS[0], tiny=True, out=tmp_path, sets=["K=1"])
    assert e.value.code == 2
