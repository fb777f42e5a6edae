"""Reduced dynamics inside the sweep engine and the CLIs: which engine ran is recorded, rows equal
single reduced solves (fused and optax loops alike), and refusals say why. float64."""
import json

import numpy as np
import pytest

from _problems import row_problem, sweep_rows
from nclandscape.cli import main
from nclandscape.errors import ConfigError
from nclandscape.reduced import solve_problem_reduced
from nclandscape.sweep import SweepSpec, run_sweep
from nclandscape.sweep.plan import Bucket, fused_backend_for


_rows, _problem = sweep_rows, row_problem


SPEC = dict(fixed={"K": 4, "n": 300, "steps_max": 1500, "seed": 3, "scale": 0.5, "lambda_b": 1e-3},
            grid={"d": [3, 4], "lambda_W": [1e-3, 1e-2], "lambda_H": [2e-3], "optimizer": ["gd", "nesterov", "lbfgs"]})


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    out = {}
    for fused, opts in (("auto", ["gd", "nesterov", "lbfgs"]), ("off", ["nesterov"])):
        d = tmp_path_factory.mktemp(f"fused_{fused}")
        run_sweep(SweepSpec(SPEC["fixed"], {**SPEC["grid"], "optimizer": opts}, engine={"fused": fused}), d,
                  progress=False)
        out[fused] = _rows(d)
    return out


@pytest.mark.slow
def test_auto_runs_reduced_from_n_256_and_rows_equal_single_solves(sweeps):
    rows = sweeps["auto"]
    # d = 3 and d = 4 share one bucket (d padded to 4): the padding path runs too
    assert len(rows) == 12 and {r["dynamics"] for r in rows} == {"reduced"}
    for r in rows:
        if r["optimizer"] == "lbfgs":  # reaches the closed-form minimum
            assert r["status"] == "ok" and abs(r["gap"]) <= 1e-9 * r["f_star"]
    for r in [rows[0], rows[4], rows[-1]]:  # gd, nesterov (fused loop), lbfgs (optax)
        # The sweep samples the reduced start in law from the seed, as init="direct" does.
        single = solve_problem_reduced(_problem(r), optimizer=r["optimizer"], steps=1500, seed=3, scale=0.5,
                                       init="direct", dtype=np.float64)
        assert r["objective"] == pytest.approx(single["objective"], rel=1e-12)
        assert r["status"] == single["status"]
        if r["optimizer"] != "lbfgs":  # L-BFGS's line search may stop a few steps apart on rounding
            assert r["steps"] == single["steps"]
        # Mid-trajectory (gd, nesterov) the metrics are smooth functions of the iterate: 1e-9
        # relative. At the minimum (lbfgs) they vanish and are set by the stopping point: 1e-6.
        tol = dict(abs=1e-6) if r["optimizer"] == "lbfgs" else dict(rel=1e-9)
        for k in ("nc1", "nc2", "nc3", "numerical_rank"):
            assert r[k] == pytest.approx(single[k], **tol), k


@pytest.mark.slow
def test_fused_and_optax_loops_give_the_same_rows(sweeps):
    """Nesterov buckets run fused (plain-JAX loop on CPU) under ``auto`` and as optax steps under
    ``off``: the same iterates up to rounding, the same stopping step."""
    a = {r["config_id"]: r for r in sweeps["auto"]}
    b = {r["config_id"]: r for r in sweeps["off"]}
    assert len(b) == 4 and set(b) <= set(a)
    for cid in b:
        r = a[cid]
        assert r["steps"] == b[cid]["steps"] and r["status"] == b[cid]["status"]
        assert r["objective"] == pytest.approx(b[cid]["objective"], rel=1e-11)
        assert r["nc1"] == pytest.approx(b[cid]["nc1"], rel=1e-8)


def test_which_buckets_fuse():
    red = dict(K=4, N=0, d=8, dynamics="reduced")
    assert fused_backend_for(Bucket("mse", "gd", **red), "auto") in ("xla", "pallas")
    assert fused_backend_for(Bucket("mse", "gd", **red), "xla") == "xla"
    assert fused_backend_for(Bucket("mse", "gd", **red), "off") == "off"
    assert fused_backend_for(Bucket("mse", "lbfgs", **red), "auto") == "off"
    assert fused_backend_for(Bucket("rescaled_mse", "gd", **red), "auto") == "off"
    assert fused_backend_for(Bucket("mse", "gd", K=4, N=1200, d=8, dynamics="full"), "auto") == "off"
    with pytest.raises(ConfigError, match="choose one of"):
        fused_backend_for(Bucket("mse", "gd", **red), "triton")


def test_reduced_where_not_exact_is_refused_with_the_reason(tmp_path, capsys):
    spec = SweepSpec({"K": 3, "n": 300, "d": 2, "loss": "ce"}, engine={"dynamics": "reduced"})
    with pytest.raises(ConfigError, match="cross-entropy is not reducible"):
        run_sweep(spec, tmp_path / "ce", progress=False)
    rc = main(["sweep", "--set", "K=3", "--set", "n=300", "--set", "d=2", "--set", "optimizer=adam",
               "--dynamics", "reduced", "--out", str(tmp_path / "adam"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "adam is not reducible" in err[0]


@pytest.mark.slow
def test_dynamics_full_is_recorded_and_reaches_the_same_minimum(tmp_path, capsys):
    rc = main(["sweep", "--set", "K=3", "--set", "n=300", "--set", "d=4", "--set", "optimizer=lbfgs",
               "--set", "lambda_W=5e-3", "--set", "lambda_H=5e-3", "--set", "steps_max=2000",
               "--grid", "seed=0,1", "--dynamics", "full", "--x64", "--out", str(tmp_path / "f"), "--quiet",
               "--no-plots"])
    assert rc == 0
    rows = _rows(tmp_path / "f")
    assert {r["dynamics"] for r in rows} == {"full"}
    for r in rows:
        assert r["status"] == "ok" and abs(r["gap"]) <= 1e-9 * r["f_star"]
    capsys.readouterr()
    assert main(["solve", "--K", "3", "--n", "300", "--d", "4", "--lambda-W", "5e-3", "--lambda-H", "5e-3",
                 "--x64", "--json", "--dynamics", "reduced"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dynamics"] == "reduced" and out["objective"] == pytest.approx(rows[0]["f_star"], rel=1e-9)


@pytest.mark.slow
def test_a_failing_gpu_kernel_falls_back_to_the_plain_loop(tmp_path, sweeps, monkeypatch):
    """If the Pallas kernel cannot compile or run (here: forced on a CPU, where only the
    interpreter runs it), the bucket warns and runs the plain-JAX loop: same rows."""
    from nclandscape.sweep import engine

    with pytest.raises(ConfigError, match="runs a GPU kernel"):
        run_sweep(SweepSpec(SPEC["fixed"], SPEC["grid"], engine={"fused": "pallas"}), tmp_path / "p", progress=False)
    monkeypatch.setattr(engine, "fused_backend_for", lambda bucket, fused: "pallas")
    spec = SweepSpec({**SPEC["fixed"], "optimizer": "gd", "d": 3, "lambda_W": 1e-3}, {"lambda_H": [2e-3]})
    with pytest.warns(UserWarning, match="fused Pallas kernel failed"):
        run_sweep(spec, tmp_path / "fb", progress=False)
    (row,) = _rows(tmp_path / "fb")
    (want,) = [r for r in sweeps["auto"] if r["config_id"] == row["config_id"]]
    assert row["objective"] == pytest.approx(want["objective"], rel=1e-12) and row["steps"] == want["steps"]
