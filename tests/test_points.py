"""The points of nclandscape.points: closed forms against THEORY.md, the §3 saddles against their
stated curvature, the Newton root-finder, ``--at`` parsing, and one point per ``--at`` everywhere.

References are independent of the code under test: f* and the reference values of THEORY.md §2,
the §3 eigenvalue written out here from its formula, and ``jax.hessian`` for the spectrum.
"""
import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from nclandscape import points, theory
from nclandscape.cli import main
from nclandscape.errors import ConfigError
from nclandscape.objectives import objective_for
from nclandscape.solve import solve, tree_norm
from nclandscape.ufm import Problem

MSE = objective_for("mse")


def value_grad(problem, params):
    obj = objective_for(problem.loss)
    data, hp = problem.data(dtype=params.W.dtype), problem.hparams(dtype=params.W.dtype)
    v, g = jax.value_and_grad(lambda p: obj(p, data, hp))(params)
    return float(v), float(tree_norm(g))


def dense_eigs(problem, params):
    """Eigenvalues of ``jax.hessian`` on the coordinates the problem has (b dropped without bias)."""
    obj = objective_for(problem.loss)
    data, hp = problem.data(), problem.hparams()
    x0, unravel = ravel_pytree(params)
    A = np.asarray(jax.jit(jax.hessian(lambda x: obj(unravel(x), data, hp)))(x0))
    keep = np.ones(x0.size, bool)
    if not problem.bias:
        keep[-problem.K:] = False
    return np.linalg.eigvalsh(A[np.ix_(keep, keep)])


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("K, n, d, lw, lh, lb, f_ref", [
    (4, 3, 6, 1e-3, 1e-3, 1e-3, 0.0053030275),  # THEORY.md §2 reference values (10 digits)
    (4, 3, 6, 5e-3, 1e-2, 1e-1, 0.0447897949),
    (4, 3, 6, 0.2, 0.2, 0.1, 0.3863636364),  # the zero solution (λ̄ ≥ √n)
    (5, 2, 3, 1e-2, 2e-3, 1e-2, None),  # d < K − 1
])
def test_global_point_attains_fstar_and_is_critical(K, n, d, lw, lh, lb, f_ref):
    pr = Problem(K=K, n=n, d=d, lambda_W=lw, lambda_H=lh, lambda_b=lb)
    pt = points.point_at(pr, "global")
    f_star = theory.mse_global_min(K, n, d, lw, lh, lb).f_star
    v, gn = value_grad(pr, pt.params)
    assert abs(v - f_star) <= 1e-10  # float64 evaluation of O(1) terms: ~1e-16 expected
    assert gn <= 1e-12  # a minimiser: only rounding of the O(1) gradient terms is left
    assert pt.info == {"at": "global", "f_star": f_star} and pt.predicted_min_eig is None
    if f_ref is not None:
        assert abs(f_star - f_ref) <= 5e-11  # the reference is rounded to 10 digits


def test_ce_global_point_attains_fstar():
    pr = Problem(K=4, n=2, d=3, lambda_W=1e-3, lambda_H=2e-3, lambda_b=1e-3, loss="ce")
    pt = points.point_at(pr, "global")
    v, gn = value_grad(pr, pt.params)
    assert abs(v - theory.ce_global_min(4, 2, 3, 1e-3, 2e-3, 1e-3).f_star) <= 1e-10
    assert gn <= 1e-10  # the CE minimiser solves a 1-D problem in closed form; log/exp rounding


def test_equal_class_sizes_use_their_size_not_n():
    # balanced through class_sizes: the closed form is for 3 samples per class, whatever n says
    pr = Problem(K=4, n=5, d=6, lambda_W=5e-3, lambda_H=1e-2, lambda_b=1e-1, class_sizes=(3, 3, 3, 3))
    p = points.global_point(pr)
    assert p.H.shape == (6, 12)
    v, gn = value_grad(pr, p)
    assert abs(v - 0.0447897949) <= 5e-11 and gn <= 1e-12


# --------------------------------------------------------------------------- saddles (THEORY.md §3)


def theory_saddle_eig(K, n, lw, lh):
    """THEORY.md §3: λ = [(μ_W + μ_H)/2 − √(((μ_W − μ_H)/2)² + σ²)] / N, σ = √n, μ = N λ."""
    N = K * n
    mw, mh = N * lw, N * lh
    return ((mw + mh) / 2 - math.sqrt(((mw - mh) / 2) ** 2 + n)) / N


@pytest.mark.parametrize("K, n, d, lw, lh, S", [
    (4, 3, 5, 1e-2, 1e-2, (0, 2)),
    (3, 2, 4, 5e-3, 2e-2, (1,)),
    (4, 2, 3, 1e-2, 1e-3, ()),  # the zero point
])
def test_saddle_is_critical_with_the_stated_negative_curvature(K, n, d, lw, lh, S):
    pr = Problem(K=K, n=n, d=d, lambda_W=lw, lambda_H=lh, bias=False)
    pt = points.point_at(pr, "saddle:" + ",".join(map(str, S)))
    v, gn = value_grad(pr, pt.params)
    assert gn <= 1e-12  # exact critical point up to rounding
    assert abs(v - pt.info["f_critical"]) <= 1e-13
    lam = theory_saddle_eig(K, n, lw, lh)
    assert lam < 0 and pt.info["is_global"] is False
    ev = dense_eigs(pr, pt.params)
    # eigh of a ≤ 60×60 float64 matrix with entries O(1): error ~1e-15
    assert abs(ev[0] - lam) <= 1e-12
    assert abs(pt.predicted_min_eig - lam) <= 1e-15 and pt.info["predicted_min_eig"] == pt.predicted_min_eig
    # the compatibility form
    prm, pred, is_global = points.saddle_point(pr, S)
    assert pred == pt.predicted_min_eig and not is_global
    np.testing.assert_array_equal(np.asarray(prm.W), np.asarray(pt.params.W))


@pytest.mark.slow
def test_newton_root_finder_returns_to_a_saddle_the_minimiser_leaves():
    """Why points.newton_critical_point exists beside the library's Newton: from a 1e-3 kick off
    a strict saddle the root-finder converges back to it, the damped Newton minimiser leaves it."""
    pr = Problem(K=4, n=3, d=5, lambda_W=1e-2, lambda_H=1e-2, bias=False)
    data, hp = pr.data(), pr.hparams()
    p, _, _ = points.saddle_point(pr, (0, 2))
    f_crit = float(MSE(p, data, hp))
    rng = np.random.default_rng(0)
    dm = rng.normal(size=(5, 4)) * 1e-3  # class means only: the start stays collapsed
    start = p._replace(H=p.H + jnp.asarray(np.repeat(dm, 3, axis=1)), W=p.W + 1e-3 * jnp.asarray(rng.normal(size=(4, 5))))
    r = jax.jit(lambda q: points.newton_critical_point(MSE, q, data, hp))(start)
    v, gn = value_grad(pr, r.params)
    assert gn <= 1e-12 and abs(v - f_crit) <= 1e-12  # quadratic convergence to the same saddle
    m = jax.jit(lambda q: solve(MSE, q, data, hp, optimizer="newton", max_steps=200))(start)
    f_star = theory.mse_global_min(4, 3, 5, 1e-2, 1e-2, bias=False).f_star
    assert float(m.value) < f_crit - 0.1 and abs(float(m.value) - f_star) <= 1e-10


def test_critical_point_with_bias_is_critical():
    pr = Problem(K=4, n=3, d=3, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2)
    pt = points.point_at(pr, "critical:0")
    v, gn = value_grad(pr, pt.params)
    assert gn <= 1e-10 and pt.info["newton_grad_norm"] <= points.NEWTON_TOL["float64"]
    assert pt.info["S"] == [0] and 0 < pt.info["newton_steps"] <= points.NEWTON_MAX_STEPS
    ev = dense_eigs(pr, pt.params)
    assert ev[0] < -1e-3  # a strict saddle (its eigenvalue is certified in test_hessian_critical)


# --------------------------------------------------------------------------- --at strings


@pytest.mark.parametrize("at, expected", [
    ("global", ("global", ())),
    ("solve", ("solve", ())),
    ("saddle:0,2", ("saddle", (0, 2))),
    ("saddle:1", ("saddle", (1,))),
    ("saddle:", ("saddle", ())),
    ("saddle", ("saddle", ())),
    ("saddle: 0, 3", ("saddle", (0, 3))),
    ("critical:0", ("critical", (0,))),
    ("critical:", ("critical", ())),
])
def test_parse_at_accepts_documented_forms(at, expected):
    assert points.parse_at(at) == expected
    kind, S = points.parse_at(at)  # unpacks as the former (kind, S) tuple
    assert (kind, S) == expected


@pytest.mark.parametrize("at, says", [
    ("elsewhere", "choose global, solve, saddle:I,J,... or critical:I,J,..."),
    ("Global", "choose global"),
    ("", "choose global"),
    ("saddle:0,x", "0-based integer indices"),
    ("saddle:-1", "0-based integer indices"),
    ("critical:1.5", "0-based integer indices"),
    ("saddle:0,0", "given twice"),
    (None, "choose global"),
])
def test_parse_at_rejects_bad_strings(at, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        points.parse_at(at)


@pytest.mark.parametrize("problem, at, says", [
    (Problem(K=4, n=2, d=5), "saddle:0", "--no-bias"),
    (Problem(K=4, n=2, d=5, loss="ce", bias=False), "saddle:0", "--loss mse"),
    (Problem(K=4, n=2, d=5, bias=False), "saddle:4", "0..3"),
    (Problem(K=4, n=2, d=2, bias=False), "saddle:0,1,2", "d=2"),
    (Problem(K=4, n=2, d=5, loss="rescaled_mse", alpha=2.0), "global", "use --at solve"),
    (Problem(K=3, n=2, d=5, class_sizes=(1, 2, 3)), "global", "balanced"),
    (Problem(K=4, n=2, d=5, loss="ce"), "critical:0", "--loss mse"),
    (Problem(K=4, n=2, d=5), "critical:3", "0..2"),
    (Problem(K=3, n=2, d=5, class_sizes=(1, 2, 3)), "critical:0", "--class-sizes"),
])
def test_point_at_says_what_to_change(problem, at, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        points.check_at(problem, at)
    with pytest.raises(ConfigError, match=re.escape(says)):
        points.point_at(problem, at)


# --------------------------------------------------------------------------- one point per --at


@pytest.mark.parametrize("problem, at", [
    (Problem(K=4, n=2, d=5, lambda_W=5e-3, lambda_H=1e-2, lambda_b=1e-2), "global"),
    (Problem(K=4, n=2, d=5, lambda_W=1e-2, lambda_H=1e-2, bias=False), "saddle:0,1"),
    (Problem(K=4, n=2, d=3, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2), "critical:1"),
    (Problem(K=3, n=2, d=3, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2, loss="rescaled_mse", alpha=2.0), "solve"),
])
@pytest.mark.slow
def test_hessian_and_landscape_get_the_same_point(problem, at):
    from nclandscape.hessian.critical import point_for as hessian_point_for
    from nclandscape.landscape import point_for as landscape_point_for

    pt = points.point_at(problem, at, steps=300)
    h_params, h_pred, h_info = hessian_point_for(problem, at, steps=300)
    l_params, l_info = landscape_point_for(problem, at, steps=300)
    np.testing.assert_array_equal(np.asarray(ravel_pytree(pt.params)[0]), np.asarray(ravel_pytree(h_params)[0]))
    np.testing.assert_array_equal(np.asarray(ravel_pytree(pt.params)[0]), np.asarray(ravel_pytree(l_params)[0]))
    assert h_info == l_info == pt.info and h_pred == pt.predicted_min_eig


@pytest.mark.slow
def test_commands_hessian_and_slice_share_defaults_and_point(capsys):
    import argparse

    from nclandscape.commands import hessian as hcmd
    from nclandscape.commands import slice as scmd

    ph, ps = argparse.ArgumentParser(), argparse.ArgumentParser()
    hcmd.add_arguments(ph)
    scmd.add_arguments(ps)
    h, s = ph.parse_args([]), ps.parse_args([])
    assert h.at == s.at == points.DEFAULT_AT and h.steps == s.steps == points.SOLVE_STEPS and h.seed == s.seed
    flags = ["--K", "3", "--n", "2", "--d", "3", "--lambda-W", "1e-2", "--lambda-H", "1e-2", "--x64", "--json"]
    for at, extra in (("saddle:0", ["--no-bias"]), ("solve", []), ("critical:0", [])):
        assert main(["hessian", *flags, *extra, "--at", at, "--method", "dense"]) == 0
        ho = json.loads(capsys.readouterr().out)
        assert main(["slice", *flags, *extra, "--at", at, "--points", "3"]) == 0
        so = json.loads(capsys.readouterr().out)
        # the same point: objective (jit) and f0 (no jit) agree to rounding
        assert abs(ho["objective"] - so["f0"]) <= 1e-14 * abs(so["f0"]), at
        assert ho["at"] == so["at"] == at


def test_float32_stays_float32():
    pr = Problem(K=3, n=2, d=3, lambda_W=1e-2, lambda_H=1e-2, bias=False)
    for at in ("global", "saddle:0", "critical:0"):
        p = points.point_at(pr, at, dtype=jnp.float32).params
        assert {a.dtype for a in p} == {jnp.dtype(jnp.float32)}, at
