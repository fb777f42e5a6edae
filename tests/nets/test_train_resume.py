"""Resumable training: a run SIGKILLed mid-epoch and restarted equals an uninterrupted run.

The interrupted run is a real ``nclandscape train`` subprocess killed with SIGKILL (no clean-up
code runs) right after a mid-epoch checkpoint: a small driver (``KILL_DRIVER``) wraps
``nclandscape.nets.checkpoint.save`` so that the process SIGKILLs itself once the checkpoint of
global step 6 is on disk, then runs the command line. The library holds no test hook; the restart
runs in-process on the same folder. Records are compared on every field except wall-clock timing.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nclandscape.errors import ConfigError
from nclandscape.nets.config import load_config_file
from nclandscape.nets.runner import train

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "experiments" / "resnet" / "fig3_optimizers.py"
TIMING = ("wall_s", "images_per_s")

# `python -c KILL_DRIVER EPOCH STEP ARGS...`: run `nclandscape ARGS...`, SIGKILLing the process right
# after the checkpoint at (epoch, step_in_epoch) = (EPOCH, STEP) has been written.
KILL_DRIVER = """
import os, signal, sys
from nclandscape import cli
from nclandscape.nets import checkpoint

at = (int(sys.argv[1]), int(sys.argv[2]))
save = checkpoint.save

def save_then_die(path, state, meta):
    save(path, state, meta)
    if (meta["epoch"], meta["step_in_epoch"]) == at:
        os.kill(os.getpid(), signal.SIGKILL)

checkpoint.save = save_then_die
sys.exit(cli.main(sys.argv[3:]))
"""


def _cfg():
    # the Fig. 3 config's tiny SGD run (MSE): 64 images, batch 16 -> 4 steps per epoch
    _, runs = load_config_file(CONFIG, tiny=True)
    return runs["sgd"].replace(epochs=3, checkpoint_every_steps=1, label="sgd")


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def _lines(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch_equals_uninterrupted(tmp_path):
    cfg = _cfg()
    ref = train(cfg, tmp_path / "ref", log=None)
    assert [r["epoch"] for r in ref] == [1, 2, 3]
    assert [r["step"] for r in ref] == [4, 8, 12]

    run = tmp_path / "killed"
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    # global step 6 = epoch index 1 (the second epoch), step 2 of 4
    cmd = [sys.executable, "-c", KILL_DRIVER, "1", "2", "train", str(CONFIG), "--tiny", "--run", "sgd",
           "--out", str(run / "x"), "--set", "epochs=3", "--set", "checkpoint_every_steps=1",
           "--no-plot"]
    # --out run/x with --run sgd writes to run/x/sgd
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run_dir = run / "x" / "sgd"
    # killed at global step 6 = epoch 2, step 2 of 4: one record written, mid-epoch checkpoint
    assert len(_lines(run_dir / "metrics.jsonl")) == 1
    assert (run_dir / "checkpoint.npz").exists()
    assert not list(run_dir.glob("*.tmp"))

    resumed = train(cfg, run_dir, log=None)
    on_disk = _lines(run_dir / "metrics.jsonl")
    assert [r["epoch"] for r in on_disk] == [1, 2, 3]  # no gap, no duplicate
    assert _strip(on_disk) == _strip(ref)  # bit-identical numbers
    assert _strip(resumed) == _strip(ref)
    assert np.isfinite([r["nc1"] for r in ref]).all()
    assert ref[-1]["train_loss"] < ref[0]["train_loss"]


@pytest.mark.slow
def test_resume_drops_records_written_after_the_checkpoint(tmp_path):
    """A kill between writing a metrics line and the checkpoint leaves an extra line; the
    restart cuts it and recomputes, so the file again equals an uninterrupted run's."""
    cfg = _cfg()
    ref = train(cfg, tmp_path / "ref", log=None)
    d = tmp_path / "run"
    train(cfg.replace(epochs=2), d, log=None)
    with open(d / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**ref[-1], "nc1": -1.0}) + "\n")
    train(cfg, d, log=None)  # extend to 3 epochs
    assert _strip(_lines(d / "metrics.jsonl")) == _strip(ref)
    # a finished run is not trained again
    again = train(cfg, d, log=None)
    assert _strip(again) == _strip(ref)


def test_resume_refuses_a_different_config(tmp_path):
    cfg = _cfg()
    train(cfg.replace(epochs=1), tmp_path, log=None)
    with pytest.raises(ConfigError, match="different config.*weight_decay"):
        train(cfg.replace(epochs=1, weight_decay=1e-3), tmp_path, log=None)


def test_bad_data_path_then_fixed_rerun(tmp_path, capsys):
    from nclandscape import cli

    cfg = _cfg().replace(epochs=1)
    bad = cfg.replace(data="cifar10_npz", data_path=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="data_path .*missing.* is not a folder"):
        train(bad, tmp_path / "run", log=None)
    assert [r["epoch"] for r in train(cfg, tmp_path / "run", log=None)] == [1]
    # through the CLI: bad input is exit code 2 with a one-line message
    rc = cli.main(["train", str(CONFIG), "--tiny", "--out", str(tmp_path / "c"), "--set",
                   "data=cifar10_python", "--set", f"data_path={tmp_path}"])
    assert rc == 2
    assert "cifar10_python: missing file" in capsys.readouterr().err
    assert cli.main(["train", str(tmp_path / "nope.py"), "--out", str(tmp_path / "d")]) == 2
    assert cli.main(["train", str(CONFIG), "--tiny", "--out", str(tmp_path / "e"),
                     "--run", "hinge"]) == 2


@pytest.mark.slow
def test_divergence_stops_the_run(tmp_path):
    from nclandscape.nets.runner import TrainingDiverged

    cfg = _cfg().replace(epochs=3, lr=1e6)  # SGD at lr 1e6 overflows float32 at once
    with pytest.raises(TrainingDiverged, match="lower lr"):
        train(cfg, tmp_path, log=None)
    assert not (tmp_path / "metrics.jsonl").read_text()  # nothing recorded from a NaN epoch
