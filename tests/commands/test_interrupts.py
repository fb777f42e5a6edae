"""Ctrl-C / SIGTERM, full disks and resume traps: one line on stderr, the documented exit code,
nothing torn, and a rerun of the same command resumes."""
from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nclandscape import cli
from nclandscape.errors import ConfigError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --------------------------------------------------------------------------- signals

def test_ctrl_c_gives_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("nclandscape.commands.theory.main", interrupted)
    assert cli.main(["theory"]) == 130
    assert _one_line(capsys) == "nclandscape theory: interrupted; rerun the same command to resume"


def test_sigterm_gives_one_line_and_exit_143_and_restores_the_handler(monkeypatch, capsys):
    def terminated(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at the next Python instruction
        raise AssertionError("SIGTERM was not handled")

    monkeypatch.setattr("nclandscape.commands.theory.main", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["theory"]) == 143
    assert _one_line(capsys) == "nclandscape theory: interrupted; rerun the same command to resume"
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------- disk full

def test_disk_full_while_drawing_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import matplotlib.figure

    def full(self, fname, **kw):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["landscape", "--s", "0:1:3", "--theta", "0:1:3", "--out", "x.png"])
    assert rc == 2
    line = _one_line(capsys)
    assert line == f"nclandscape landscape: error: 'x.png': {os.strerror(errno.ENOSPC)}"
    assert list(tmp_path.iterdir()) == []  # neither x.png nor its temporary file


def test_disk_full_while_writing_a_sweep_part_names_it(tmp_path, monkeypatch, capsys):
    import pyarrow.parquet

    def full(table, where, **kw):
        Path(where).write_bytes(b"PAR1 torn")
        raise OSError("IOError: No space left on device")  # pyarrow's errors carry no errno/path

    from nclandscape.sweep.store import ResultStore

    store = ResultStore(tmp_path / "s")
    store.open({"a": 1}, resume_key={"a": 1})
    monkeypatch.setattr(pyarrow.parquet, "write_table", full)
    with pytest.raises(OSError) as e:
        store.write_part([{"index": 0, "config_id": "x"}], tag="0000000")
    assert "parts/part-0000000-" in e.value.filename and "No space left" in e.value.strerror
    assert sorted(p.name for p in (tmp_path / "s" / "parts").iterdir()) == []  # nothing torn


@pytest.mark.slow
def test_a_real_write_failure_in_a_subprocess(tmp_path):
    # RLIMIT_FSIZE makes the kernel refuse writes past 2 kB (EFBIG): a real I/O error, also as root.
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048)); "
            "from nclandscape.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", code, "landscape", "--s", "0:1:20", "--theta", "0:1:20",
                        "--out", str(tmp_path / "x.png")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "x.png" in lines[0] and os.strerror(errno.EFBIG) in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- resume

def test_resume_key_compares_nan_equal_and_names_what_differs(tmp_path):
    from nclandscape.sweep.store import ResultStore

    key = {"spec": {"fixed": {"lr": float("nan"), "K": 3}}, "dtype": "float32"}
    store = ResultStore(tmp_path)
    store.open({}, resume_key=key)
    store.write_part([{"index": 0, "config_id": "a"}], tag="0000000")
    # A new NaN object (NaN != NaN in Python): still the same sweep.
    store.open({}, resume_key={"spec": {"fixed": {"lr": float("nan"), "K": 3}}, "dtype": "float32"})
    with pytest.raises(ConfigError, match=r"differs in spec\.fixed\.lr\)"):
        store.open({}, resume_key={"spec": {"fixed": {"lr": 0.1, "K": 3}}, "dtype": "float32"})


def test_a_run_without_results_does_not_lock_its_folder(tmp_path):
    from nclandscape.sweep.store import ResultStore

    store = ResultStore(tmp_path)
    store.open({}, resume_key={"K": 3})  # a run that stopped before its first part
    store.open({}, resume_key={"K": 4})  # the corrected command takes the folder over
    assert json.loads((tmp_path / "config.json").read_text())["resume_key"] == {"K": 4}
    store.write_part([{"index": 0, "config_id": "a"}], tag="0000000")
    with pytest.raises(ConfigError, match=r"differs in K\)"):
        store.open({}, resume_key={"K": 5})


def test_torn_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    from nclandscape.nets.runner import _read_records

    p = tmp_path / "metrics.jsonl"
    p.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3, "nc1": 0.')
    warnings = []
    assert _read_records(p, warn=warnings.append) == [{"epoch": 1}, {"epoch": 2}]
    assert len(warnings) == 1 and "metrics.jsonl" in warnings[0]
    p.write_text('{"epoch": 1}\n{"ep\n{"epoch": 3}\n')  # damage before the last line: refuse, naming it
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        _read_records(p)


@pytest.mark.slow
def test_sweep_with_nan_in_its_spec_resumes(tmp_path):
    from nclandscape.sweep.engine import run_sweep
    from nclandscape.sweep.spec import SweepSpec

    spec = SweepSpec({"K": 3, "n": 2, "optimizer": "gd", "steps_max": 20, "lr": float("nan")},
                     {"d": [2, 5]}, None, {"x64": True})
    first = run_sweep(spec, tmp_path, progress=False, chunk_size=1, max_chunks=1)
    assert first.computed == 1
    spec2 = SweepSpec({"K": 3, "n": 2, "optimizer": "gd", "steps_max": 20, "lr": float("nan")},
                      {"d": [2, 5]}, None, {"x64": True})
    second = run_sweep(spec2, tmp_path, progress=False, chunk_size=1)
    assert (second.computed, second.skipped, second.total) == (1, 1, 2)
    t = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert sorted(r["d"] for r in t) == [2, 5] and all(math.isclose(r["lr"], 0.1) for r in t)  # gd default


# A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored:
# the child installs Python's default handler, as a terminal's Ctrl-C would find it.
WITH_SIGINT = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from nclandscape.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_then_rerun_completes(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-c", WITH_SIGINT, "sweep", "--out", str(out), "--quiet", "--no-plots",
           "--chunk-size", "1", "--set", "K=3", "--set", "n=2", "--set", "optimizer=gd", "--set", "steps_max=20",
           "--grid", "d=2,3,5,9"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "parts").exists() and list((out / "parts").glob("part-*.parquet")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["nclandscape sweep: interrupted; rerun the same command to resume"]
    n = len(list((out / "parts").glob("part-*.parquet")))
    assert 1 <= n < 4 and not (out / "results.parquet").exists()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"computed {4 - n}, resumed {n}" in r.stdout
    assert pq.read_table(out / "results.parquet").num_rows == 4


@pytest.mark.slow
def test_sigterm_during_optbench_then_rerun_completes(tmp_path):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "nclandscape", "optbench", "--out", str(out), "--K", "3", "--n", "2", "--d", "3",
           "--seeds", "2", "--steps", "30", "--optimizers", "gd,momentum,nesterov", "--no-plots", "--json"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (out / "gd.parquet").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["nclandscape optbench: interrupted; rerun the same command to resume"]
    assert (out / "gd.parquet").exists() and not (out / "nesterov.parquet").exists()
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]  # nothing half-written left
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert "gd" in res["reused"] and sorted(res["ran"] + res["reused"]) == ["gd", "momentum", "nesterov"]
