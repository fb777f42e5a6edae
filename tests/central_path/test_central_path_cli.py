"""`solve --save` / `decompose`, the decomposition keys of `solve --json`, `central-path`, optbench's
L⊥ trace and the ResNet metrics' terms."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape import central_path as cp
from nclandscape.cli import main
from nclandscape.objectives import mse_objective
from nclandscape.ufm import Params, Problem, init_params

KEYS = ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp", "L_features")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("extra", [
    ("--K", "4", "--n", "5", "--d", "6", "--optimizer", "gd", "--lr", "0.5", "--steps", "60"),
    ("--K", "5", "--n", "3", "--d", "3", "--no-bias", "--lambda-H", "0", "--steps", "40"),
    ("--K", "3", "--n", "300", "--d", "4", "--dynamics", "reduced", "--steps", "30"),
])
@pytest.mark.slow
def test_save_then_decompose_reproduces_solve_json(tmp_path, capsys, extra):
    path = str(tmp_path / "pt.npz")
    code, out, _ = run_cli(capsys, "solve", *extra, "--lambda-W", "2e-3", "--lambda-b", "1e-2", "--x64", "--json",
                           "--save", path)
    assert code == 0
    s = json.loads(out)
    z = np.load(path)
    K, n, d = s["K"], s["n"], s["d"]
    assert z["W"].shape == (K, d) and z["H"].shape == (d, K * n) and z["b"].shape == (K,)
    assert z["H"].dtype == np.float64
    if "--no-bias" in extra:
        assert np.all(z["b"] == 0)
    # The saved point is the solved point: its objective is solve's.
    prob = Problem(K=K, n=n, d=d, lambda_W=2e-3, lambda_H=0.0 if "--no-bias" in extra else 1e-3, lambda_b=1e-2,
                   bias="--no-bias" not in extra)
    f = float(mse_objective(Params(*(jnp.asarray(z[k]) for k in "WHb")), prob.data(), prob.hparams()))
    assert f == pytest.approx(s["objective"], rel=1e-12)
    args = ["decompose", path, "--lambda-W", "2e-3", "--lambda-H", str(prob.lambda_H), "--lambda-b", "1e-2", "--json"]
    if "--no-bias" in extra:
        args.append("--no-bias")
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    r = json.loads(out)
    for k in KEYS:
        # 1e-12 relative (the reduced run's terms come from the reduced state, decompose's from H).
        assert r[k] == pytest.approx(s[k], rel=1e-12, abs=1e-15 * s["objective"])
    assert sum(s[k] for k in KEYS) == pytest.approx(s["objective"], rel=1e-12)


@pytest.mark.slow
def test_solve_json_keys_are_null_for_other_losses(capsys):
    code, out, _ = run_cli(capsys, "solve", "--K", "3", "--n", "2", "--d", "3", "--loss", "ce", "--steps", "5", "--json")
    assert code == 0
    obj = json.loads(out)
    assert all(k in obj and obj[k] is None for k in KEYS)


@pytest.mark.slow
def test_solve_reaches_the_central_path(capsys):
    """At a minimiser (Newton, converged to rounding) the classifier is least-squares optimal:
    L⊥/f ≤ 1e-15."""
    code, out, _ = run_cli(capsys, "solve", "--K", "4", "--n", "5", "--d", "6", "--x64", "--json", "--optimizer", "newton")
    s = json.loads(out)
    assert s["status"] == "ok" and s["L_perp"] <= 1e-15 * s["objective"]


@pytest.mark.parametrize("argv,msg", [
    (("decompose", "MISSING.npz"), "MISSING.npz"),
    (("decompose", "BAD", "--lambda-W", "-1"), "--lambda-W -1.0: weight decay"),
    (("solve", "--save", "x.txt"), "--save x.txt: give a file name ending in .npz"),
    (("central-path", "--flow", "gradient"), "flow='gradient' is not allowed"),
    (("central-path", "--K", "4", "--n", "2", "--d", "6"), "d=6 > K (n - 1) = 4"),
    (("central-path", "--points", "1"), "--points 1"),
])
def test_bad_input_exits_2(capsys, argv, msg):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and msg in err and err.count("\n") == 1


def test_decompose_rejects_inconsistent_shapes(tmp_path, capsys):
    path = str(tmp_path / "bad.npz")
    np.savez(path, W=np.ones((3, 4)), H=np.ones((5, 6)), b=np.ones(3))
    code, _, err = run_cli(capsys, "decompose", path)
    assert code == 2 and "do not fit" in err
    np.savez(path, W=np.ones((3, 4)), H=np.ones((4, 7)), b=np.ones(3))
    code, _, err = run_cli(capsys, "decompose", path)
    assert code == 2 and "give --class-sizes" in err


@pytest.mark.slow
def test_central_path_cli_json_and_figure(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "central-path", "--K", "3", "--n", "4", "--d", "3", "--flow", "renormalized",
                           "--t-max", "600", "--points", "7", "--seed", "2", "--json", "--out", str(tmp_path))
    assert code == 0
    r = json.loads(out)
    om, law = np.asarray(r["omega"]), np.asarray(r["omega_law"])
    assert om.shape == law.shape == (7, 2) and len(r["t"]) == 7
    assert r["max_rel_err"] <= 1e-8 and np.min(om[-1] / om[0]) > 3  # the done-when accuracy, over ≥ 3× growth
    # Recompute the error from the arrays, and the law from ω(0) (the command's law is the library's).
    assert r["max_rel_err"] == pytest.approx(np.max(np.abs(om - law) / law), rel=1e-12)
    np.testing.assert_allclose(law, np.asarray(cp.omega_law("renormalized", jnp.asarray(r["t"]), om[0], K=3, n=4)),
                               rtol=1e-14)
    # F measured = ½ Σ 1/(K + ω²) of the measured ω; NC closed forms track the measured NC.
    np.testing.assert_allclose(r["F"], 0.5 * np.sum(1.0 / (3 + om**2), axis=1), rtol=1e-10)
    np.testing.assert_allclose(r["nc1"], r["nc1_law"], rtol=1e-7)
    assert (tmp_path / "central_path_renormalized.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "central_path_renormalized.json").read_text())["omega"] == r["omega"]


@pytest.mark.slow
def test_optbench_records_perp():
    from nclandscape.optbench.run import Record, record_one

    prob = Problem(K=4, n=3, d=5, lambda_W=1e-2, lambda_H=3e-3, lambda_b=0.0)
    data, hp = prob.data(), prob.hparams()
    p = init_params(jax.random.PRNGKey(3), data)
    rec = Record(0, *record_one(p, data, hp, loss="mse"))
    t = cp.decomposition(p.W, p.H, p.b, data.Y, hp)
    assert float(rec.l_perp) == pytest.approx(float(t.perp), rel=1e-13)
    assert float(rec.l_perp_over_f) == pytest.approx(float(t.perp) / float(mse_objective(p, data, hp)), rel=1e-13)
    rec = Record(0, *record_one(p, data, hp, loss="ce"))
    assert np.isnan(float(rec.l_perp)) and np.isnan(float(rec.l_perp_over_f))


@pytest.mark.slow
def test_network_terms_sum_to_the_network_objective():
    """metrics.jsonl's terms: λ_W = λ_b = weight_decay, λ_H = 0, features (N, d), integer labels."""
    from nclandscape.central_path.networks import network_terms

    rng = np.random.default_rng(0)
    K, N, d, wd = 5, 40, 8, 5e-4
    feats = rng.standard_normal((N, d)).astype(np.float32)
    labels = rng.integers(0, K, N)
    W = rng.standard_normal((K, d)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    r = network_terms(W, b, feats, labels, K, lam_W=wd, lam_b=wd)
    z = feats.astype(np.float64) @ W.T.astype(np.float64) + b
    f = 0.5 * np.mean(np.sum((z - np.eye(K)[labels]) ** 2, axis=1)) + 0.5 * wd * (np.sum(W.astype(float) ** 2)
                                                                                  + np.sum(b.astype(float) ** 2))
    assert r["L_total"] == pytest.approx(f, rel=1e-12) and r["L_features"] == 0.0
    assert r["L_perp_over_f"] == pytest.approx(r["L_perp"] / f, rel=1e-12)
    r0 = network_terms(W, None, feats, labels, K, lam_W=wd, lam_b=wd)
    f0 = 0.5 * np.mean(np.sum((z - b - np.eye(K)[labels]) ** 2, axis=1)) + 0.5 * wd * np.sum(W.astype(float) ** 2)
    assert r0["L_total"] == pytest.approx(f0, rel=1e-12)
