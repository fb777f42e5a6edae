"""Compute follows convergence (refilled lanes), a row does not depend on how the work is split,
``ok`` certifies, and plots mark every failure."""
import json

import jax
import numpy as np
import pytest

from nclandscape.solve import GAP_RTOL, certify, solve_problem
from nclandscape.sweep import SweepSpec, run_sweep
from nclandscape.sweep.engine import Programs, refill_loop
from nclandscape.sweep.plan import bucket_of, padded_size
from nclandscape.sweep.plots import failed_cells, phase_diagram, pivot

from tests._problems import row_problem, sweep_rows

NEWTON = {"optimizer": "newton", "steps_max": 200, "K": 4, "n": 3, "lambda_b": 1e-2}
AXES = {"lambda_W": {"logspace": [1e-6, 1e-1, 4]}, "lambda_H": {"logspace": [1e-6, 1e-1, 3]}, "d": [2, 5]}


def _by_id(rows):
    return {r["config_id"]: r for r in rows}


def test_padded_size_depends_on_the_value_only():
    assert [padded_size(x) for x in (1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 17, 50, 100)] == \
        [1, 2, 3, 4, 5, 7, 8, 10, 12, 14, 20, 56, 112]
    assert all(x <= padded_size(x) <= max(4, 1.25 * x) for x in range(1, 2000))
    c = {"K": 10, "n": 5, "d": 9, "loss": "mse", "optimizer": "newton"}
    b = bucket_of(c)
    assert (b.K, b.N, b.d) == (10, 56, 10)


def test_refill_loop_runs_every_configuration_once_at_its_own_pace():
    """A toy solver whose configuration i needs exactly steps[i] iterations: every output is the
    configuration's own, the lanes pay about the sum of the steps, and 1 lane or 3 give the same."""
    steps = np.array([5, 1, 9, 0, 3, 7, 2, 2, 6, 4])
    import jax.numpy as jnp

    progs = Programs(
        init_one=lambda x: {"t": jnp.zeros((), jnp.int32), "acc": x["v"] * 0.0},
        step_one=lambda x, s: {"t": s["t"] + 1, "acc": s["acc"] + x["v"]},
        go_one=lambda x, s: s["t"] < x["need"],
        final_one=lambda x, s: (s["acc"], {"steps": s["t"]}),
        solve_one=None, metrics_one=None)
    xs = {"need": jnp.asarray(steps, jnp.int32), "v": jnp.arange(10.0)}
    for slots in (1, 3, 10):
        payload, outs, rounds = jax.jit(lambda xs: refill_loop(progs, xs, 10, slots))(xs)
        assert np.asarray(outs["steps"]).tolist() == steps.tolist()
        np.testing.assert_array_equal(np.asarray(payload), steps * np.arange(10.0))
        assert int(rounds) >= -(-steps.sum() // slots) and int(rounds) <= steps.sum()
        if slots == 1:
            assert int(rounds) == steps.sum()


@pytest.mark.slow
def test_a_row_does_not_depend_on_how_the_work_is_split(tmp_path):
    """newton, float64 (the suite runs in float64): chunk sizes 1, 5 and 1024, 1 or 4 lanes, an interrupted and resumed run,
    and solve() give every row the same status and objective within 1e-12 relative."""
    spec = SweepSpec(NEWTON, AXES, None, {"x64": True})
    runs = {}
    for name, kw in (("c1024", {"chunk_size": 1024}), ("c5", {"chunk_size": 5}),
                     ("c1", {"chunk_size": 1, "slots": 1}), ("s4", {"chunk_size": 1024, "slots": 4})):
        run_sweep(spec, tmp_path / name, progress=False, **kw)
        runs[name] = _by_id(sweep_rows(tmp_path / name))
    s = run_sweep(spec, tmp_path / "resumed", progress=False, chunk_size=5, max_chunks=2)
    s = run_sweep(spec, tmp_path / "resumed", progress=False, chunk_size=7)
    assert s.skipped == 10 and s.computed == 14
    runs["resumed"] = _by_id(sweep_rows(tmp_path / "resumed"))
    ref = runs["c1024"]
    assert len(ref) == 24 and all(r["status"] == "ok" for r in ref.values())
    for name, rows in runs.items():
        assert rows.keys() == ref.keys(), name
        for cid, r in rows.items():
            assert r["status"] == ref[cid]["status"], name
            assert r["objective"] == pytest.approx(ref[cid]["objective"], rel=1e-12), name
    for r in list(ref.values())[::5]:
        single = solve_problem(row_problem(r), optimizer="newton", steps=200, seed=r["seed"], dtype=np.float64)
        assert single["status"] == r["status"]
        assert single["objective"] == pytest.approx(r["objective"], rel=1e-12)
    stats = json.loads((tmp_path / "c5" / "stats.json").read_text())
    assert stats["sum_steps"] == sum(r["steps"] for r in runs["c5"].values())
    assert stats["slot_steps"] >= stats["sum_steps"]


@pytest.mark.slow
def test_refill_pays_about_the_sum_of_steps(tmp_path):
    """L-BFGS rows need very different step counts: refilled lanes pay at most 1.25x their sum."""
    spec = SweepSpec({"optimizer": "lbfgs", "steps_max": 300, "K": 4, "n": 3, "d": 3, "lambda_b": 1e-2},
                     {"lambda_W": {"logspace": [1e-4, 1e-1, 8]}, "lambda_H": {"logspace": [1e-4, 1e-1, 8]}},
                     None, {"x64": True})
    s = run_sweep(spec, tmp_path / "r", progress=False, slots=4)
    rows = sweep_rows(tmp_path / "r")
    steps = [r["steps"] for r in rows]
    assert max(steps) > 3 * min(steps)  # the rows really differ
    assert s.sum_steps == sum(steps)
    assert s.slot_steps / s.sum_steps <= 1.25


def test_ok_certifies_against_the_closed_form():
    """certify(): an ok run whose value is not within GAP_RTOL of f* is 'stationary'; the other
    statuses and unknown f* pass through."""
    assert certify("ok", 1.0 + 0.5 * GAP_RTOL["float64"], 1.0, np.float64) == "ok"
    assert certify("ok", 1.0 + 2 * GAP_RTOL["float64"], 1.0, np.float64) == "stationary"
    assert certify("ok", 1.0 - 2 * GAP_RTOL["float64"], 1.0, np.float64) == "stationary"
    assert certify("not_converged", 5.0, 1.0, np.float64) == "not_converged"
    assert certify("ok", 5.0, None, np.float64) == "ok"


@pytest.mark.slow
def test_float32_tiny_lambda_is_never_ok_off_the_minimum():
    """float32 L-BFGS at λ = 1e-8: a row is ok only within the stated tolerance of f*."""
    from nclandscape.ufm import Problem

    for seed in (0, 1):
        out = solve_problem(Problem(K=4, n=3, d=6, lambda_W=1e-8, lambda_H=1e-8, lambda_b=1e-8),
                            optimizer="lbfgs", steps=400, seed=seed, dtype=np.float32)
        if out["status"] == "ok":
            assert abs(out["gap"]) <= GAP_RTOL["float32"] * max(abs(out["f_star"]), 1e-6)


def test_phase_diagram_marks_failed_cells(tmp_path):
    """Every cell holding a non-ok row is crossed and counted in the title."""
    cols = {"lambda_W": [1e-3, 1e-3, 1e-2, 1e-2], "lambda_H": [1e-3, 1e-2, 1e-3, 1e-2],
            "nc2": [0.1, 0.2, 0.3, 0.4], "status": ["ok", "not_converged", "ok", "diverged"],
            "K": [4] * 4, "n": [3] * 4}
    xs, ys, _ = pivot(cols, "lambda_W", "lambda_H", "nc2")
    bad = failed_cells(cols, "lambda_W", "lambda_H", xs, ys)
    assert bad.tolist() == [[False, False], [True, True]]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = []
    orig = plt.Axes.set_title
    plt.Axes.set_title = lambda self, t, **kw: (titles.append(t), orig(self, t, **kw))[1]
    try:
        paths = phase_diagram(cols, x="lambda_W", y="lambda_H", color="nc2", out=tmp_path / "p.png")
    finally:
        plt.Axes.set_title = orig
    assert all(p.exists() for p in paths)
    assert "2 row(s) not ok in 2 crossed cell(s)" in titles[0]


@pytest.mark.slow
def test_sweep_rows_carry_the_mse_decomposition(tmp_path):
    """Vanilla-MSE rows: the five terms of the decomposition sum to the row's objective (1e-10
    relative, float64); cross-entropy rows leave them NaN."""
    spec = SweepSpec({"optimizer": "gd", "steps_max": 30, "K": 3, "n": 2, "d": 2, "lambda_b": 1e-2},
                     {"loss": ["mse", "ce"], "seed": [0, 1]}, None, {"x64": True})
    run_sweep(spec, tmp_path / "s", progress=False)
    cols = ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp", "L_features")
    for r in sweep_rows(tmp_path / "s"):
        if r["loss"] == "mse":
            assert sum(r[c] for c in cols) == pytest.approx(r["objective"], rel=1e-10)
            assert r["L_perp"] >= 0
        else:
            assert all(np.isnan(r[c]) for c in cols)
