"""Closed-form theory (THEORY.md §2, §2b, §3) against brute-force float64 optimisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from _brute import brute_force_min
from nclandscape import theory
from nclandscape.errors import ConfigError
from nclandscape.objectives import mse_objective
from nclandscape.ufm import Params, Problem


def _random_mse_cases(seed=0):
    """Random problems (K <= 6, n <= 4, d <= 9, λ log-uniform in [1e-4, 0.3]) in every d-class."""
    rng = np.random.default_rng(seed)
    cases = []
    for kind in ["d<K-1", "d=K-1", "d>=K", "d<K-1", "d=K-1", "d>=K", "nobias", "nobias"]:
        K = int(rng.integers(4 if kind == "d<K-1" else 2, 7))
        n = int(rng.integers(1, 5))
        if kind == "d<K-1":
            d = int(rng.integers(1, K - 1))
        elif kind == "d=K-1":
            d = K - 1
        elif kind == "d>=K":
            d = int(rng.integers(K, 10))
        else:
            d = int(rng.integers(1, 10))
        lw, lh, lb = np.exp(rng.uniform(np.log(1e-4), np.log(0.3), size=3))
        cases.append(dict(K=K, n=n, d=max(d, 1), lambda_W=float(lw), lambda_H=float(lh), lambda_b=float(lb), bias=kind != "nobias"))
    # The zero regime: λ_W λ_H above 1/(K N), inside [1e-4, 0.3].
    cases.append(dict(K=5, n=4, d=6, lambda_W=0.2, lambda_H=0.1, lambda_b=0.01, bias=True))
    cases.append(dict(K=3, n=2, d=1, lambda_W=0.3, lambda_H=0.25, lambda_b=0.3, bias=True))
    cases.append(dict(K=4, n=3, d=3, lambda_W=0.2, lambda_H=0.15, lambda_b=0.0, bias=False))
    return cases


MSE_CASES = _random_mse_cases()


def test_cases_cover_every_regime():
    regimes = {theory.mse_global_min(c["K"], c["n"], c["d"], c["lambda_W"], c["lambda_H"], c["lambda_b"], bias=c["bias"]).regime for c in MSE_CASES}
    assert regimes == {"zero", "collapse"}


@pytest.mark.slow
@pytest.mark.parametrize("case", MSE_CASES, ids=lambda c: f"K{c['K']}n{c['n']}d{c['d']}{'' if c['bias'] else '-nobias'}")
def test_mse_global_min_matches_brute_force(case):
    p = Problem(**case)
    g = theory.mse_global_min(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias)
    f_bf, res = brute_force_min(p)
    # 1e-9 relative: the target accuracy; L-BFGS stops at ||grad|| <= 1e-12, far below it.
    assert f_bf == pytest.approx(g.f_star, rel=1e-9, abs=1e-14)
    if p.bias:
        b = np.asarray(res.params.b)
        # The optimal bias is β*·1 (unique: the bias direction is strictly convex); 1e-6 since
        # b is only determined to ~ sqrt(value tolerance).
        np.testing.assert_allclose(b, g.beta_star * np.ones(p.K), atol=1e-6)


@pytest.mark.parametrize("case", MSE_CASES[:6] + MSE_CASES[-3:])
def test_explicit_minimizer_attains_f_star(case):
    p = Problem(**case)
    g = theory.mse_global_min(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias)
    W, H, b = theory.mse_global_minimizer(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias)
    f_np = theory.mse_objective_np(W, H, b, p.K, p.n, p.lambda_W, p.lambda_H, p.lambda_b if p.bias else 0.0)
    f_jax = float(jax.jit(mse_objective)(Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)), p.data(), p.hparams()))
    # Both evaluations are float64 sums of O(KN) terms: 1e-12 is the target accuracy.
    assert abs(f_np - g.f_star) <= 1e-12 * max(1.0, g.f_star)
    assert abs(f_jax - g.f_star) <= 1e-12 * max(1.0, g.f_star)
    # A minimiser is a critical point: gradient zero to rounding.
    grad = jax.grad(mse_objective)(Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)), p.data(), p.hparams())
    assert float(ravel_pytree(grad)[0].__abs__().max()) < 1e-12


def test_reference_values_from_theory_md():
    for args, (f, beta) in [
        ((4, 3, 6, 1e-3, 1e-3, 1e-3), (0.0053030275, 0.2497502)),
        ((4, 3, 6, 5e-3, 1e-2, 1e-1), (0.0447897949, 0.1224745)),
        ((4, 3, 6, 0.2, 0.2, 0.1), (0.3863636364, 0.2272727)),
    ]:
        g = theory.mse_global_min(*args)
        # THEORY.md prints 10 and 7 significant digits.
        assert g.f_star == pytest.approx(f, abs=5e-11)
        assert g.beta_star == pytest.approx(beta, abs=5e-8)


def test_limits_of_the_bias():
    # λ_b -> 0: β* -> 1/K; λ_b -> ∞: β* -> 0 (THEORY.md §2).
    assert theory.mse_global_min(4, 3, 6, 1e-3, 1e-3, 1e-12).beta_star == pytest.approx(0.25, abs=1e-9)
    assert theory.mse_global_min(4, 3, 6, 1e-3, 1e-3, 1e12).beta_star == pytest.approx(0.0, abs=1e-9)
    # Zero regime: β* = 1/(K (1 + λ_b)) exactly.
    g = theory.mse_global_min(4, 3, 6, 0.2, 0.2, 0.1)
    assert g.regime == "zero" and g.beta_star == pytest.approx(1 / (4 * 1.1), rel=1e-14)


def test_phase_threshold_separates_regimes():
    K, n = 5, 3
    thr = theory.phase_threshold(K, n)
    assert thr == pytest.approx(1 / (K * K * n))
    lw = 0.01
    below = theory.mse_global_min(K, n, 6, lw, thr / lw * 0.999, 1e-2)
    above = theory.mse_global_min(K, n, 6, lw, thr / lw * 1.001, 1e-2)
    assert below.regime == "collapse" and above.regime == "zero"


@pytest.mark.parametrize("K,n,d,expect", [(6, 2, 2, "rank-d"), (5, 3, 4, "etf"), (4, 3, 6, "I-c11")])
def test_class_mean_gram_shape(K, n, d, expect):
    G = theory.predicted_class_mean_gram(K, n, d, 1e-3, 2e-3, 1e-2)
    ev = np.sort(np.linalg.eigvalsh(G))[::-1]
    P = np.eye(K) - np.ones((K, K)) / K
    if expect == "rank-d":
        # A multiple of a rank-d projection inside 1^⊥ (best rank-d approximation of P).
        assert np.allclose(ev[:d], ev[0], rtol=1e-12) and np.allclose(ev[d:], 0, atol=1e-14)
        assert np.allclose(G @ np.ones(K), 0, atol=1e-14)
    elif expect == "etf":
        np.testing.assert_allclose(G / G[0, 0] * (1 - 1 / K), P, atol=1e-13)
    else:
        # d >= K with a small λ_b: I - c 1 1^T with c < 1/K (not an ETF).
        s = G[0, 0] - G[0, 1]
        c = -G[0, 1] / s
        np.testing.assert_allclose(G / s, np.eye(K) - c * np.ones((K, K)), atol=1e-12)
        assert 0 < c < 1 / K


# ----------------------------------------------------------------------------- CE


def _random_ce_cases(seed=1):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(5):
        K = int(rng.integers(2, 6))
        n = int(rng.integers(1, 5))
        d = int(rng.integers(K - 1, 10)) if K > 2 else int(rng.integers(1, 10))
        lw, lh, lb = np.exp(rng.uniform(np.log(1e-4), np.log(0.3), size=3))
        cases.append(dict(K=K, n=n, d=max(d, K - 1, 1), lambda_W=float(lw), lambda_H=float(lh), lambda_b=float(lb)))
    cases.append(dict(K=4, n=2, d=3, lambda_W=0.3, lambda_H=0.2, lambda_b=0.01))  # zero regime
    return cases


CE_CASES = _random_ce_cases()


def test_ce_cases_include_zero_regime():
    assert "zero" in {theory.ce_global_min(**c).regime for c in CE_CASES}


@pytest.mark.slow
@pytest.mark.parametrize("case", CE_CASES, ids=lambda c: f"K{c['K']}n{c['n']}d{c['d']}")
def test_ce_closed_form_matches_brute_force(case):
    p = Problem(loss="ce", **case)
    g = theory.ce_global_min(**case)
    f_bf, res = brute_force_min(p)
    assert f_bf == pytest.approx(g.f_star, rel=1e-9)
    W, H, b = theory.ce_global_minimizer(**case)
    from nclandscape.objectives import ce_objective

    f_min = float(ce_objective(Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)), p.data(), p.hparams()))
    assert f_min == pytest.approx(g.f_star, rel=1e-12)


def test_ce_needs_d_at_least_K_minus_1():
    with pytest.raises(ConfigError, match="d >= K-1"):
        theory.ce_global_min(5, 2, 3, 1e-3, 1e-3)


# ----------------------------------------------------------------------------- saddles


@pytest.mark.parametrize("K,n,d,S", [(4, 3, 3, (0,)), (5, 2, 4, (1, 3)), (3, 4, 5, ()), (6, 2, 3, (0, 2))])
def test_nobias_saddle_min_eigenvalue_matches_dense_hessian(K, n, d, S):
    lw, lh = 2e-3, 5e-3
    cp = theory.nobias_critical_point(K, n, d, lw, lh, S)
    p = Problem(K=K, n=n, d=d, lambda_W=lw, lambda_H=lh, lambda_b=0.0, bias=False)
    data, hp = p.data(), p.hparams()
    x0, unravel = ravel_pytree((jnp.asarray(cp.W), jnp.asarray(cp.H)))

    def f(x):
        W, H = unravel(x)
        return mse_objective(Params(W, H, jnp.zeros(K)), data, hp)

    assert float(jnp.linalg.norm(jax.grad(f)(x0))) < 1e-13  # it is a critical point
    lam = jnp.linalg.eigvalsh(jax.jit(jax.hessian(f))(x0))
    assert cp.predicted_min_eig is not None and cp.predicted_min_eig < 0
    # Dense float64 eigvalsh of a P <= 100 matrix: accurate to ~1e-15 absolute; 1e-9 is the target accuracy.
    assert float(lam[0]) == pytest.approx(cp.predicted_min_eig, abs=1e-9)


def test_global_member_of_the_family_has_no_negative_curvature():
    K, n, d, lw, lh = 4, 3, 3, 2e-3, 5e-3
    cp = theory.nobias_critical_point(K, n, d, lw, lh, (0, 1, 2))
    assert cp.is_global and cp.predicted_min_eig is None
    assert cp.f == pytest.approx(theory.mse_global_min(K, n, d, lw, lh, bias=False).f_star, rel=1e-13)


def test_theory_rejects_bad_input():
    for bad in [dict(K=1), dict(d=0), dict(lambda_W=-1.0), dict(n=0)]:
        args = dict(K=4, n=3, d=3, lambda_W=1e-3, lambda_H=1e-3, lambda_b=1e-3) | bad
        with pytest.raises(ConfigError):
            theory.mse_global_min(**args)
    with pytest.raises(ConfigError, match="not attained"):
        theory.mse_global_minimizer(4, 3, 3, 0.0, 1e-3, 1e-3)
