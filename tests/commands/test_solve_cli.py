"""`nclandscape solve/theory`: the JSON contract, convergence to the theory, bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from nclandscape import theory
from nclandscape.cli import main
from nclandscape.solve import solve_problem
from nclandscape.ufm import Problem


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_theory_json_contract(capsys):
    code, out, _ = run_cli(capsys, "theory", "--K", "10", "--n", "5", "--d", "12", "--lambda-W", "1e-3",
                           "--lambda-H", "1e-3", "--lambda-b", "1e-2", "--json")
    assert code == 0
    obj = json.loads(out)
    g = theory.mse_global_min(10, 5, 12, 1e-3, 1e-3, 1e-2)
    assert obj["f_star"] == g.f_star and obj["b_star"] == g.beta_star and obj["regime"] == "collapse"
    code, out, _ = run_cli(capsys, "theory", "--K", "4", "--n", "3", "--d", "3", "--loss", "ce", "--json")
    assert code == 0 and json.loads(out)["b_star"] == 0.0


@pytest.mark.parametrize("argv", [
    ("theory", "--loss", "rescaled_mse"),
    ("theory", "--loss", "ce", "--K", "6", "--d", "3"),
    ("solve", "--K", "1"),
    ("solve", "--d", "0"),
    ("solve", "--lambda-W", "-0.1"),
    ("solve", "--loss", "hinge"),
    ("solve", "--optimizer", "bfgs"),
    ("solve", "--lambda-H", "nan"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]


def _cases():
    # (K, n, d, λ_W, λ_H, λ_b, bias): d < K-1, d = K-1, d >= K, no bias.
    return [(6, 3, 3, 2e-3, 1e-3, 1e-2, True), (5, 2, 4, 1e-3, 3e-3, 1e-3, True),
            (4, 3, 7, 5e-4, 2e-3, 1e-1, True), (4, 4, 4, 1e-3, 1e-3, 0.0, False)]


@pytest.mark.slow
@pytest.mark.parametrize("case", _cases())
def test_solve_lbfgs_x64_reaches_theory(capsys, case):
    K, n, d, lw, lh, lb, bias = case
    argv = ["solve", "--K", str(K), "--n", str(n), "--d", str(d), "--lambda-W", str(lw), "--lambda-H", str(lh),
            "--lambda-b", str(lb), "--optimizer", "lbfgs", "--steps", "5000", "--seed", "3", "--x64", "--json"]
    if not bias:
        argv.append("--no-bias")
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    r = json.loads(out)
    assert r["status"] == "ok" and r["regime"] == "collapse"
    assert abs(r["gap"]) <= 1e-8 * r["f_star"]  # the target accuracy
    assert r["nc1"] < 1e-6 and r["nc3"] < 1e-6
    # Class-mean Gram against the theory: spectra always (unique), the matrix itself when unique.
    p = Problem(K=K, n=n, d=d, lambda_W=lw, lambda_H=lh, lambda_b=lb, bias=bias)
    res = solve_problem(p, optimizer="lbfgs", steps=5000, seed=3, dtype=np.float64)
    H = np.asarray(res["_params"].H)
    Hm = H.reshape(d, K, n).mean(axis=2)
    G = Hm.T @ Hm
    G_th = theory.predicted_class_mean_gram(K, n, d, lw, lh, lb, bias=bias)
    # Gram entries are O(1e-1); the solver stops at ||grad|| <= 1e-10, so 1e-6 is generous.
    np.testing.assert_allclose(np.linalg.eigvalsh(G), np.linalg.eigvalsh(G_th), atol=1e-6)
    if bias and d >= K - 1:
        np.testing.assert_allclose(G, G_th, atol=1e-6)


@pytest.mark.slow
def test_zero_regime_solution_is_zero(capsys):
    code, out, _ = run_cli(capsys, "solve", "--K", "3", "--n", "2", "--d", "4", "--lambda-W", "0.3", "--lambda-H", "0.25",
                           "--lambda-b", "0.1", "--x64", "--json")
    r = json.loads(out)
    assert r["regime"] == "zero" and abs(r["gap"]) <= 1e-8 * r["f_star"]


@pytest.mark.slow
def test_float32_solve_and_human_output(capsys):
    code, out, _ = run_cli(capsys, "solve", "--K", "4", "--n", "2", "--d", "3", "--optimizer", "gd", "--lr", "0.5",
                           "--steps", "50")
    assert code == 0 and "NC1" in out and "objective" in out


@pytest.mark.slow
def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "nclandscape", "theory", "--K", "4", "--n", "3", "--d", "6",
                        "--lambda-W", "1e-3", "--lambda-H", "1e-3", "--lambda-b", "1e-3", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    assert json.loads(r.stdout)["f_star"] == pytest.approx(0.0053030275, abs=5e-11)
