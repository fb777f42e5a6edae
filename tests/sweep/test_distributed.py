"""Two real processes joined by ``jax.distributed`` (coordinator on 127.0.0.1, two CPU devices
each), started the way README documents: ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID`` plus ``sweep --distributed``. A ``kill -9`` of one process followed by a rerun
of both resumes with nothing lost or duplicated, and the table equals the one-process table.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

AXES = ["--set", "K=3", "--set", "n=2", "--set", "optimizer=gd", "--set", "steps_max=60",
        "--grid", "d=2,3,4,5", "--grid", "lambda_W=0.001,0.003,0.01"]  # 12 configurations, 2 buckets
TOTAL = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(out, *extra):
    return [sys.executable, "-m", "nclandscape", "sweep", "--out", str(out), "--quiet", "--no-plots", "--x64",
            "--chunk-size", "4", *AXES, *extra]


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update(kw)
    return env


def _start_pair(out, logs: Path, tag: str):
    port = _free_port()
    procs = []
    for pid in (0, 1):
        # the suite's XLA flags (tests/conftest.py) too, as the one-process reference has them
        env = _env(XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2",
                   JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid))
        log = open(logs / f"p{pid}.{tag}.log", "w")
        procs.append((subprocess.Popen(_cmd(out, "--distributed"), env=env, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def _wait(procs, timeout=600):
    deadline = time.time() + timeout
    for p, log in procs:
        p.wait(timeout=max(1, deadline - time.time()))
        log.close()
    return [p.returncode for p, _ in procs]


def _table(out):
    t = pq.read_table(Path(out) / "results.parquet").to_pylist()
    return sorted(t, key=lambda r: r["index"])


def _assert_equal_tables(a, b):
    assert len(a) == len(b) == TOTAL
    assert len({r["config_id"] for r in a}) == TOTAL  # no duplicate, none lost
    for ra, rb in zip(a, b):
        assert ra["config_id"] == rb["config_id"]
        assert ra["steps"] == rb["steps"] and ra["status"] == rb["status"]
        # Two configurations per device instead of four on one: XLA may vectorise the float64
        # arithmetic differently, so equality holds to rounding (60 GD steps: ~1e-14 relative).
        for k in ("objective", "grad_norm", "nc1", "nc2", "nc3"):
            assert rb[k] == pytest.approx(ra[k], rel=1e-11, abs=1e-15), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "sweep"
    r = subprocess.run(_cmd(out), env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return _table(out)


@pytest.mark.slow
def test_kill_one_process_then_rerun_both_resumes(tmp_path, reference):
    """Two processes, one killed mid-sweep, then both rerun: the table equals the one-process
    table (every row computed by the two-process cluster, before or after the kill)."""
    import json

    out = tmp_path / "killed"
    procs = _start_pair(out, tmp_path, "first")
    deadline = time.time() + 600
    while time.time() < deadline and all(p.poll() is None for p, _ in procs):
        if (out / "parts").exists() and list((out / "parts").glob("part-*.parquet")):
            break
        time.sleep(0.05)
    procs[1][0].send_signal(signal.SIGKILL)  # the non-coordinator dies mid-sweep
    procs[1][0].wait()
    time.sleep(1.0)
    if procs[0][0].poll() is None:  # the coordinator waits on its dead peer: stop it as well
        procs[0][0].send_signal(signal.SIGKILL)
    _wait(procs)
    n_parts = len(list((out / "parts").glob("part-*.parquet")))
    assert 1 <= n_parts < 4 and not (out / "results.parquet").exists(), "the kill must land mid-sweep"
    done = sum(pq.read_metadata(p).num_rows for p in (out / "parts").glob("part-*.parquet"))

    rcs = _wait(_start_pair(out, tmp_path, "rerun"))
    log0 = (tmp_path / "p0.rerun.log").read_text()
    assert rcs == [0, 0], log0 + (tmp_path / "p1.rerun.log").read_text()
    assert f"computed {TOTAL - done}, resumed {done}" in log0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["processes"] == 2 and len(cfg["devices"]) == 4
    _assert_equal_tables(reference, _table(out))


@pytest.mark.slow
def test_distributed_without_a_cluster_is_one_line(tmp_path):
    r = subprocess.run(_cmd(tmp_path / "o", "--distributed"), env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "JAX_COORDINATOR_ADDRESS" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()
