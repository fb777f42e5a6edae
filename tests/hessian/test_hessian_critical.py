import pytest
"""Critical points (Newton, escape bound), escape by GD, certification, and the CLI commands."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.hessian import dense_spectrum
from nclandscape.hessian.certify import certify
from nclandscape.hessian.critical import bias_family_start, escape, newton_critical_point, saddle_point
from nclandscape.metrics import nc_metrics
from nclandscape.objectives import objective_for
from nclandscape.solve import tree_norm
from nclandscape.theory import mse_global_min
from nclandscape.ufm import Problem

MSE = objective_for("mse")


@pytest.mark.slow
def test_newton_returns_to_perturbed_nobias_saddle():
    pr = Problem(K=4, n=3, d=5, lambda_W=1e-2, lambda_H=1e-2, bias=False)
    data, hp = pr.data(), pr.hparams()
    p, pred, _ = saddle_point(pr, (0, 2))
    rng = np.random.default_rng(0)
    # perturb the class means only (Newton works on the collapsed problem)
    dm = rng.normal(size=(5, 4)) * 1e-3
    start = p._replace(H=p.H + jnp.asarray(np.repeat(dm, 3, axis=1)), W=p.W + 1e-3 * jnp.asarray(rng.normal(size=(4, 5))))
    r = jax.jit(lambda p: newton_critical_point(MSE, p, data, hp))(start)
    value, grad = jax.value_and_grad(lambda q: MSE(q, data, hp))(r.params)
    assert float(tree_norm(grad)) < 1e-12  # converged to machine precision (quadratic convergence)
    assert abs(float(value) - float(MSE(p, data, hp))) < 1e-12  # same critical value
    ds = dense_spectrum(MSE, r.params, data, hp)
    assert abs(float(ds.values[0]) - pred) < 1e-9


@pytest.mark.slow
def test_bias_critical_points_are_certified_and_escape_bound_is_attained():
    pr = Problem(K=4, n=3, d=3, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2)
    data, hp = pr.data(), pr.hparams()
    newton = jax.jit(lambda p: newton_critical_point(MSE, p, data, hp))
    f_star = mse_global_min(4, 3, 3, 1e-2, 1e-2, 1e-2).f_star
    seen = {}
    for S in [(), (0,), (0, 1), (0, 1, 2)]:
        r = newton(bias_family_start(pr, S))
        rep = certify(pr, MSE, r.params, data, hp, method="dense")
        assert rep["grad_norm"] < 1e-10
        seen[len(S)] = rep
        if len(S) < 3:  # an escape direction exists: the bound is the min eigenvalue (measured 1e-16)
            assert rep["classification"] == "strict saddle"
            assert abs(rep["min_eig"] - rep["escape_bound"]) < 1e-9
        else:
            assert rep["classification"] == "global minimum"
            assert abs(rep["objective"] - f_star) < 1e-12
    # b of these points: β = 1/(K(1 + λ_b)) (only the 1^⊥ components are kept)
    r = newton(bias_family_start(pr, (0,)))
    np.testing.assert_allclose(np.asarray(r.params.b), 1 / (4 * 1.01), atol=1e-12)


@pytest.mark.slow
def test_escape_from_saddle_reaches_global_minimum_with_collapse():
    pr = Problem(K=3, n=2, d=3, lambda_W=5e-3, lambda_H=5e-3, bias=False)
    data, hp = pr.data(), pr.hparams()
    p, pred, _ = saddle_point(pr, (1,))
    ds = dense_spectrum(MSE, p, data, hp)
    _, unravel = jax.flatten_util.ravel_pytree(p)
    v = unravel(ds.vectors[:, 0])
    f_star = mse_global_min(3, 2, 3, 5e-3, 5e-3, bias=False).f_star
    r = jax.jit(lambda p, v: escape(MSE, p, v, data, hp, f_star=f_star, eps=1e-3, lr=0.5, max_steps=20000, gap_tol=1e-10))(p, v)
    assert bool(r.reached) and 0 < int(r.steps) < 20000
    m = nc_metrics(r.params.W, r.params.H, r.params.b * 0, data.Y)
    # NC on arrival (GD stops at gap 1e-10, so distances are ~1e-5): NC1, NC3, and — no bias, d = K —
    # orthogonal classifier rows (W Wᵀ ∝ I, THEORY.md §2: λ_b → ∞ gives orthogonal, not ETF, means)
    assert float(m.nc1) < 1e-6 and float(m.nc3) < 1e-3
    G = np.asarray(r.params.W @ r.params.W.T)
    np.testing.assert_allclose(G / np.trace(G) * 3, np.eye(3), atol=1e-3)
    # without the kick, GD stays at the saddle: the negative eigenvector is what escapes
    r0 = escape(MSE, p, jax.tree_util.tree_map(jnp.zeros_like, v), data, hp, f_star=f_star, lr=0.5, max_steps=200)
    assert not bool(r0.reached)


def _cli(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "nclandscape", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_cli_hessian_json_and_spectrum_png(tmp_path):
    r = _cli("hessian", "--K", "3", "--n", "2", "--d", "3", "--lambda-W", "1e-2", "--lambda-H", "1e-2", "--no-bias",
             "--at", "saddle:0", "--method", "dense", "--x64", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ev = np.asarray(out["eigenvalues"])
    assert ev.size == 3 * 3 + 3 * 6 and np.all(np.diff(ev) >= 0)
    assert abs(out["min_eig"] - out["predicted_min_eig"]) < 1e-9
    assert out["index"] == int(np.sum(ev < -1e-10 * np.max(np.abs(ev)))) > 0 and out["grad_norm"] < 1e-12
    png = tmp_path / "s.png"
    r = _cli("spectrum", "--K", "3", "--n", "2", "--d", "3", "--at", "global", "--x64", "--out", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = _cli("hessian", "--at", "saddle:0")  # the no-bias family needs --no-bias
    assert r.returncode == 2 and "no-bias" in r.stderr and r.stderr.count("\n") == 1
    r = _cli("hessian", "--method", "exact")
    assert r.returncode == 2 and "method" in r.stderr
