"""The sweep engine: padding, one compile per bucket, divergence isolation, theory gap, resume,
multi-device equivalence, spec parsing and plots."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from _problems import row_problem, sweep_rows
from nclandscape.errors import ConfigError
from nclandscape.solve import solve_problem
from nclandscape.sweep import PROGRAMS, SweepSpec, parse_cli_axes, run_sweep
from nclandscape.ufm import Problem

REPO = Path(__file__).resolve().parents[2]


_rows, _problem = sweep_rows, row_problem


@pytest.mark.slow
def test_mixed_shapes_lbfgs_x64_reach_theory_and_match_solve(tmp_path):
    rng = np.random.default_rng(0)
    zipped = {"K": [], "n": [], "d": [], "lambda_W": [], "lambda_H": [], "lambda_b": [], "bias": []}
    for _ in range(8):
        K = int(rng.integers(2, 7))
        zipped["K"].append(K)
        zipped["n"].append(int(rng.integers(1, 5)))
        zipped["d"].append(int(rng.integers(1, 10)))
        for k in ("lambda_W", "lambda_H", "lambda_b"):
            zipped[k].append(float(np.exp(rng.uniform(np.log(1e-4), np.log(0.05)))))
        zipped["bias"].append(bool(rng.integers(0, 2)))
    spec = SweepSpec(fixed={"optimizer": "lbfgs", "steps_max": 4000, "seed": 7, "scale": 0.5}, zips=[zipped])
    s = run_sweep(spec, tmp_path / "sw", progress=False)
    rows = _rows(tmp_path / "sw")
    assert s.total == 8 and len(rows) == 8 and s.buckets >= 2
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 7
    for r in ok:
        assert abs(r["gap"]) <= 1e-8 * r["f_star"]  # an ok row is certified against f* (GAP_RTOL)
    for r in ok[:2]:
        single = solve_problem(_problem(r), optimizer="lbfgs", steps=4000, seed=7, scale=0.5, dtype=np.float64)
        assert single["status"] == "ok"
        # Same start (padding-invariant init), same algorithm; padding changes only the rounding,
        # and both runs end at a global minimum where NC metrics are determined up to the
        # stopping tolerance: objective to 1e-12 relative, metrics to 1e-6 absolute.
        assert r["objective"] == pytest.approx(single["objective"], rel=1e-12)
        for k in ("nc1", "nc2", "nc3", "nc4", "numerical_rank", "min_cos_margin"):
            assert r[k] == pytest.approx(single[k], abs=1e-6), k


@pytest.mark.slow
def test_padding_changes_nothing_gd(tmp_path):
    # GD has no data-dependent branching: padded and unpadded trajectories agree to rounding.
    spec = SweepSpec(fixed={"optimizer": "gd", "lr": 0.3, "steps_max": 150, "tol": 0.0, "lambda_b": 1e-2},
                     zips=[{"K": [3, 5], "n": [2, 4], "d": [2, 7]}])
    run_sweep(spec, tmp_path / "padded", progress=False)
    rows = _rows(tmp_path / "padded")
    for r in rows:
        single = solve_problem(_problem(r), optimizer="gd", lr=0.3, steps=150, tol=0.0, dtype=np.float64)
        assert r["steps"] == 150 == single["steps"]
        assert r["objective"] == pytest.approx(single["objective"], rel=1e-12)
        assert r["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-9)
        assert r["nc1"] == pytest.approx(single["nc1"], rel=1e-9)


@pytest.mark.slow
def test_one_compile_per_bucket(tmp_path):
    PROGRAMS.clear()
    # Two buckets (d = 2 and d = 7), 6 configurations each, chunks of 4: 2 chunks per bucket.
    spec = SweepSpec(fixed={"optimizer": "gd", "steps_max": 20, "K": 3, "n": 2},
                     grid={"d": [2, 7], "lambda_W": [1e-3, 2e-3, 3e-3], "seed": [0, 1]})
    s = run_sweep(spec, tmp_path / "c", progress=False, chunk_size=4)
    assert s.buckets == 2 and s.total == 12
    assert sorted(PROGRAMS.traces.values()) == [1, 1]


def test_programs_compile_on_the_worker_thread_and_rows_match_a_synchronous_run(tmp_path, monkeypatch):
    """run_sweep traces each program on the caller's thread and compiles it on its worker thread
    (while the previous chunk runs); the rows equal those of a synchronous run_chunk."""
    import threading

    import jax.numpy as jnp

    from nclandscape.sweep.engine import run_chunk
    from nclandscape.sweep.plan import plan_buckets, resolve_config

    PROGRAMS.clear()
    threads = []
    original = jax.stages.Lowered.compile

    def recording(self, *a, **k):
        threads.append(threading.current_thread().name)
        return original(self, *a, **k)

    monkeypatch.setattr(jax.stages.Lowered, "compile", recording)
    spec = SweepSpec(fixed={"optimizer": "gd", "steps_max": 20, "K": 3, "n": 2},
                     grid={"d": [2, 7], "lambda_W": [1e-3, 2e-3]})
    run_sweep(spec, tmp_path / "c", progress=False, chunk_size=4)
    assert len(threads) == 2 and all(t.startswith("nclandscape-compile") for t in threads), threads
    rows = {r["index"]: r for r in sweep_rows(tmp_path / "c")}
    PROGRAMS.clear()
    configs = [resolve_config(c, jnp.float64) for c in spec.configs()]
    for bucket, idx in plan_buckets(configs, range(len(configs))).items():
        res = run_chunk(bucket, [configs[i] for i in idx], jnp.float64, chunk=4)
        for i, o in zip(idx, res.rows):
            assert o["objective"] == rows[i]["objective"] and o["steps"] == rows[i]["steps"]


@pytest.mark.slow
def test_divergence_is_isolated(tmp_path):
    base = {"optimizer": "gd", "steps_max": 100, "K": 3, "n": 2, "d": 3, "tol": 0.0}
    run_sweep(SweepSpec(fixed=base, grid={"lr": [0.1, 0.2]}), tmp_path / "a", progress=False)
    run_sweep(SweepSpec(fixed=base, grid={"lr": [0.1, 1e4, 0.2]}), tmp_path / "b", progress=False)
    a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert b[1]["status"] == "diverged" and b[1]["gap"] is None
    for ra, rb in zip(a, [b[0], b[2]]):
        assert rb["status"] == ra["status"] != "diverged"
        assert rb["objective"] == ra["objective"] and rb["nc1"] == ra["nc1"]


# A sweep whose chunks take a noticeable time (so that a kill lands mid-sweep): 12 configurations,
# chunks of 2, float64.
AXES = dict(sets=["optimizer=gd", "steps_max=400", "tol=0", "K=10", "n=40", "d=32"],
            logspaces=["lambda_W=1e-4:1e-1:6"], grids=["seed=0,1"])


def _sweep_cmd(out, chunk=2):
    cmd = [sys.executable, "-m", "nclandscape", "sweep", "--out", str(out), "--quiet", "--no-plots", "--x64",
           "--chunk-size", str(chunk)]
    for flag, key in (("--set", "sets"), ("--logspace", "logspaces"), ("--grid", "grids")):
        for v in AXES[key]:
            cmd += [flag, v]
    return cmd


def _reference(out, chunk):
    fixed, grid, zips = parse_cli_axes(AXES["sets"], AXES["grids"], AXES["logspaces"])
    run_sweep(SweepSpec(fixed, grid, zips, {"x64": True}), out, progress=False, chunk_size=chunk)
    return _table_sorted(out)


def _table_sorted(out):
    return sorted(_rows(out), key=lambda r: r["index"])


@pytest.mark.slow
def test_kill_and_resume_loses_nothing(tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(_sweep_cmd(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        parts = list((out / "parts").glob("part-*.parquet")) if (out / "parts").exists() else []
        if parts:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(list((out / "parts").glob("part-*.parquet")))
    assert 1 <= n_before < 6, "the kill must land mid-sweep"
    assert not (out / "results.parquet").exists()
    r = subprocess.run(_sweep_cmd(out), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"computed {12 - 2 * n_before}, resumed {2 * n_before}" in r.stdout
    a, b = _table_sorted(out), _reference(tmp_path / "ref", 2)
    assert len(a) == len(b) == 12
    assert len({r["config_id"] for r in a}) == 12  # no duplicate, none lost
    for ra, rb in zip(a, b):
        assert ra["config_id"] == rb["config_id"]
        assert ra["objective"] == rb["objective"] and ra["nc2"] == rb["nc2"]  # same programs: bitwise


@pytest.mark.slow
def test_four_devices_equal_one_device(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"}
    four = subprocess.run(_sweep_cmd(tmp_path / "four", chunk=4), env=env, capture_output=True, text=True, timeout=600)
    assert four.returncode == 0, four.stderr
    cfg = json.loads((tmp_path / "four" / "config.json").read_text())
    assert len(cfg["devices"]) == 4
    a, b = _reference(tmp_path / "one", 4), _table_sorted(tmp_path / "four")
    assert len(a) == len(b) == 12
    for ra, rb in zip(a, b):
        assert ra["steps"] == rb["steps"] and ra["status"] == rb["status"]
        # A device holds 1 configuration instead of 4: XLA may vectorise the float64 arithmetic
        # differently, so equality holds to rounding (400 GD steps: ~1e-13 relative).
        for k in ("objective", "grad_norm", "nc1", "nc2", "nc3"):
            assert rb[k] == pytest.approx(ra[k], rel=1e-11, abs=1e-15), k


def test_spec_toml_and_cli_axes(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[fixed]\nK = 4\n[grid]\nlambda_W = {logspace = [1e-4, 1e-2, 3]}\nd = [2, 3]\n'
                 '[[zip]]\nn = [1, 2]\nseed = [5, 6]\n')
    spec = SweepSpec.from_toml(p)
    cfgs = spec.configs()
    assert len(cfgs) == 3 * 2 * 2
    np.testing.assert_allclose(sorted({c["lambda_W"] for c in cfgs}), [1e-4, 1e-3, 1e-2], rtol=1e-12)
    assert {(c["n"], c["seed"]) for c in cfgs} == {(1, 5), (2, 6)}
    fixed, grid, zips = parse_cli_axes(["K=4"], ["d=2,3"], ["lambda_W=1e-4:1e-2:3"], [], [["n=1,2", "seed=5,6"]])
    assert sorted(map(str, SweepSpec(fixed, grid, zips).configs())) == sorted(map(str, cfgs))
    for bad, msg in [("[grid]\nfoo = [1]\n", "unknown axis"), ("[[zip]]\nK = [2, 3]\nd = [1]\n", "different lengths"),
                     ("[grid]\nlambda_W = {logspace = [0, 1, 3]}\n", "LO > 0"), ("[grid\n", "not valid TOML")]:
        p.write_text(bad)
        with pytest.raises(ConfigError, match=msg):
            SweepSpec.from_toml(p)
    with pytest.raises(ConfigError, match="does not exist"):
        SweepSpec.from_toml(tmp_path / "missing.toml")


def test_bad_configuration_is_named(tmp_path):
    with pytest.raises(ConfigError, match="lambda_W=-1.0"):
        run_sweep(SweepSpec(fixed={"K": 3}, grid={"lambda_W": [1e-3, -1.0]}), tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="K=1"):
        run_sweep(SweepSpec(grid={"K": [1, 3]}), tmp_path / "bad2", progress=False)


@pytest.mark.slow
def test_cli_sweep_and_plot(tmp_path, capsys):
    from nclandscape.cli import main

    out = tmp_path / "cli"
    code = main(["sweep", "--out", str(out), "--quiet", "--set", "K=3", "--set", "n=2", "--set", "d=2",
                 "--set", "optimizer=gd", "--set", "steps_max=50", "--logspace", "lambda_W=1e-3:1e-1:3",
                 "--logspace", "lambda_H=1e-3:1e-1:3"])
    assert code == 0
    assert "9 configurations" in capsys.readouterr().out
    import pandas as pd

    df = pd.read_parquet(out / "results.parquet")
    for col in ("K", "n", "d", "lambda_W", "lambda_H", "lambda_b", "loss", "alpha", "M", "bias", "optimizer", "lr",
                "steps_max", "seed", "objective", "f_star", "gap", "grad_norm", "nc1", "nc2", "nc3", "nc4",
                "numerical_rank", "min_cos_margin", "steps", "status"):
        assert col in df.columns, col
    assert len(df) == 9
    code = main(["plot", str(out), "--x", "lambda_W", "--y", "lambda_H", "--color", "nc2"])
    assert code == 0
    assert (out / "plots" / "phase_nc2_lambda_W_lambda_H.png").stat().st_size > 5000
    assert (out / "plots" / "phase_nc2_lambda_W_lambda_H.pdf").exists()
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert main(["plot", str(out), "--color", "nope"]) == 2


def test_phase_diagram_draws_theory_boundary(tmp_path):
    cols = {"K": [10] * 4, "n": [5] * 4, "lambda_W": [1e-4, 1e-2, 1e-4, 1e-2], "lambda_H": [1e-4, 1e-4, 1e-2, 1e-2],
            "nc2": [0.1, 0.2, 0.3, 0.4], "d": [9] * 4}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nclandscape.sweep.plots import draw_boundaries, pivot

    xs, ys, Z = pivot(cols, "lambda_W", "lambda_H", "nc2")
    np.testing.assert_allclose(Z, [[0.1, 0.2], [0.3, 0.4]])
    fig, ax = plt.subplots()
    labels = draw_boundaries(ax, cols, "lambda_W", "lambda_H", xs, ys)
    line = ax.get_lines()[0]
    # The drawn curve is λ_H = 1/(K N λ_W): check it at its points.
    np.testing.assert_allclose(line.get_xdata() * line.get_ydata(), 1 / (10 * 50), rtol=1e-12)
    assert len(labels) == 1 and "1/(KN)" in labels[0]
    plt.close(fig)


@pytest.mark.slow
def test_hessian_columns_equal_dense_hessian(tmp_path):
    # steps_max = 0: the rows describe the random starting points, whose Hessians are indefinite.
    spec = SweepSpec(fixed={"optimizer": "gd", "steps_max": 0, "K": 3, "n": 2, "d": 2, "bias": False,
                            "lambda_W": 1e-2, "lambda_H": 2e-2}, grid={"seed": [0, 1]}, engine={"hessian": True})
    run_sweep(spec, tmp_path / "h", progress=False)
    rows = _rows(tmp_path / "h")
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from nclandscape.objectives import mse_objective
    from nclandscape.ufm import Params, init_params

    p = Problem(K=3, n=2, d=2, lambda_W=1e-2, lambda_H=2e-2, bias=False)
    data, hp = p.data(), p.hparams()
    for r in rows:
        p0 = init_params(jax.random.PRNGKey(r["seed"]), data)
        x0, unravel = ravel_pytree((p0.W, p0.H))
        f = lambda x: mse_objective(Params(*unravel(x), jnp.zeros(3)), data, hp)  # noqa: E731
        lam = np.linalg.eigvalsh(np.asarray(jax.hessian(f)(x0)))
        assert r["hessian_method"] in ("dense", "structured", "lanczos")
        # Dense float64 eigenvalues of a 16x16 matrix: agreement to rounding.
        assert r["min_eig"] == pytest.approx(lam[0], abs=1e-12)
        assert r["index"] == int(np.sum(lam < -1e-10 * np.abs(lam).max()))
