"""Central path (THEORY_central_path.md): the five-term decomposition, the ridge LS classifier, the
envelope gradient, SNR invariance and the ω formulas, against dense float64 computations."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _problems import random_padded_problems
from nclandscape import central_path as cp
from nclandscape.objectives import mse_objective
from nclandscape.ufm import Params, Problem, init_params, make_data, make_hparams

# (K, n, d, λ_W, λ_H, λ_b, bias): d < K, d > N − 1, λ = 0 (with Σ_T ≻ 0 and with Σ_T singular), no bias.
CASES = [
    (4, 5, 6, 1e-2, 5e-3, 2e-2, True),
    (5, 3, 3, 0.0, 0.0, 0.0, True),
    (10, 4, 2, 1e-3, 0.0, 1e-3, True),
    (3, 4, 20, 0.1, 0.05, 0.2, True),
    (6, 2, 30, 0.0, 0.0, 0.0, True),
    (4, 6, 5, 3e-2, 1e-3, 0.0, False),
    (7, 3, 4, 0.0, 1e-2, 0.0, False),
]


def _point(K, n, d, lW, lH, lb, bias, seed=0, scale=1.0):
    prob = Problem(K=K, n=n, d=d, lambda_W=lW, lambda_H=lH, lambda_b=lb, bias=bias)
    data, hp = prob.data(), prob.hparams()
    p = init_params(jax.random.PRNGKey(seed), data, scale=scale)
    return p, data, hp


def _dense_A(H, bias, lW, lb):
    """Augmented normal matrix (1/N) H̃H̃ᵀ + diag(λ_W I, λ_b) (or without the bias row)."""
    H = np.asarray(H)
    N = H.shape[1]
    if not bias:
        return H @ H.T / N + lW * np.eye(H.shape[0])
    Ht = np.vstack([H, np.ones((1, N))])
    return Ht @ Ht.T / N + np.diag(np.r_[lW * np.ones(H.shape[0]), lb])


decomp_jit = jax.jit(lambda p, data, hp: cp.decomposition(p.W, p.H, p.b, data.Y, hp, sample_mask=data.sample_mask,
                                                          class_mask=data.class_mask, bias=data.bias))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_five_terms_sum_to_f(case):
    for seed in range(3):
        p, data, hp = _point(*case, seed=seed)
        t = decomp_jit(p, data, hp)
        f = float(mse_objective(p, data, hp))
        # Relative 1e-12: the identity is exact; a few hundred float64 roundings separate the sides.
        assert abs(float(t.total) - f) <= 1e-12 * f
        assert all(float(v) >= -1e-14 * f for v in t)  # non-negative up to rounding (0 when d ≥ N)
        assert float(t.features) == pytest.approx(0.5 * case[4] * float(jnp.sum(p.H**2)), rel=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_perp_is_gradient_norm_in_inverse_hessian(case):
    """L⊥ = ½ tr(G A⁻¹ Gᵀ), G = ∇_{W̃} f from jax.grad, A the (dense) row Hessian."""
    K, n, d, lW, lH, lb, bias = case
    p, data, hp = _point(*case, seed=1)
    g = jax.grad(mse_objective)(p, data, hp)
    G = np.hstack([np.asarray(g.W), np.asarray(g.b)[:, None]]) if bias else np.asarray(g.W)
    A = _dense_A(p.H, bias, lW, lb)
    ref = 0.5 * np.trace(G @ np.linalg.pinv(A, rcond=1e-13, hermitian=True) @ G.T)
    perp = float(decomp_jit(p, data, hp).perp)
    # Relative 1e-10: the pseudo-inverse of A (condition number up to ~1e4 here) against the LS solve.
    assert perp == pytest.approx(ref, rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_ls_classifier_matches_dense_normal_equations(case):
    K, n, d, lW, lH, lb, bias = case
    p, data, hp = _point(*case, seed=2)
    ls = cp.ls_classifier(p.H, data.Y, lam_W=lW, lam_b=lb, bias=bias)
    A = _dense_A(p.H, bias, lW, lb)
    H = np.asarray(p.H)
    N = H.shape[1]
    Ht = np.vstack([H, np.ones((1, N))]) if bias else H
    Wt = np.linalg.lstsq(A, Ht @ np.asarray(data.Y).T / N, rcond=None)[0].T  # minimum-norm when singular
    got = np.hstack([np.asarray(ls.W), np.asarray(ls.b)[:, None]]) if bias else np.asarray(ls.W)
    # Absolute 1e-10 on O(1) entries: two solvers of a system with condition number ≤ ~1e4.
    np.testing.assert_allclose(got, Wt, atol=1e-10)
    if not bias:
        assert np.all(np.asarray(ls.b) == 0)
    # The LS classifier makes L⊥ vanish (to rounding) and is a critical point in (W, b).
    q = Params(ls.W, p.H, ls.b)
    t = cp.decomposition(q.W, q.H, q.b, data.Y, hp, bias=bias)
    assert float(t.perp) <= 1e-13 * float(mse_objective(p, data, hp))


@pytest.mark.slow
def test_block_formula_with_bias():
    """W_LS = (1/K)(M − μ1ᵀ/(1+λ_b))ᵀ S_λ⁻¹, b_LS = (1/K − W_LS μ)/(1+λ_b) (THEORY_central_path.md §1.2)."""
    K, n, d, lW, lb = 5, 4, 7, 0.03, 0.2
    p, data, hp = _point(K, n, d, lW, 0.0, lb, True, seed=4)
    H = np.asarray(p.H)
    M = np.stack([H[:, k * n:(k + 1) * n].mean(1) for k in range(K)], 1)
    mu = M.mean(1)
    X = H - np.repeat(M, n, axis=1)
    Sigma_T = X @ X.T / (K * n) + (M - mu[:, None]) @ (M - mu[:, None]).T / K
    S = Sigma_T + lb / (1 + lb) * np.outer(mu, mu) + lW * np.eye(d)
    W = np.linalg.solve(S, (M - mu[:, None] / (1 + lb))).T / K
    b = (np.ones(K) / K - W @ mu) / (1 + lb)
    ls = cp.ls_classifier(p.H, data.Y, lam_W=lW, lam_b=lb)
    np.testing.assert_allclose(np.asarray(ls.W), W, atol=1e-12)  # well-conditioned 7×7 solve
    np.testing.assert_allclose(np.asarray(ls.b), b, atol=1e-12)


@pytest.mark.slow
def test_padded_decomposition_equals_unpadded_and_vmaps():
    pad = (6, 24, 8)
    probs = random_padded_problems(11, pad, n_problems=4, lambdas=(0.0, 3e-2))
    one = jax.jit(lambda p, data, hp: cp.decomposition(p.W, p.H, p.b, data.Y, hp, sample_mask=data.sample_mask,
                                                       class_mask=data.class_mask, bias=data.bias))
    for data, hp, p in probs:
        K, N, d = int(data.class_mask.sum()), int(data.sample_mask.sum()), int(data.dim_mask.sum())
        sizes = [int(s) for s in np.asarray(data.Y).sum(1)[:K]]
        small = make_data(K, 0, d, class_sizes=sizes, bias=bool(data.bias))
        q = Params(p.W[:K, :d], p.H[:d, :N], p.b[:K])
        ref = one(q, small, hp)
        got = one(p, data, hp)
        # The padded and unpadded runs differ only in the eigen-solver's rounding on a larger matrix.
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-11, atol=1e-15)
        f = float(mse_objective(q, small, hp))
        assert abs(float(got.total) - f) <= 1e-12 * f  # unbalanced classes too
    stack = lambda xs: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *xs)  # noqa: E731
    batched = jax.jit(jax.vmap(one))(stack([x[2] for x in probs]), stack([x[0] for x in probs]),
                                     stack([x[1] for x in probs]))
    for i, (data, hp, p) in enumerate(probs):
        np.testing.assert_allclose(np.asarray(batched)[:, i], np.asarray(one(p, data, hp)), rtol=1e-13, atol=1e-16)


@pytest.mark.slow
def test_float32_stays_float32():
    prob = Problem(K=4, n=3, d=5)
    data, hp = prob.data(dtype=jnp.float32), prob.hparams(dtype=jnp.float32)
    p = init_params(jax.random.PRNGKey(0), data)
    t = cp.decomposition(p.W, p.H, p.b, data.Y, hp, bias=data.bias)
    assert all(v.dtype == jnp.float32 for v in t)
    f = float(mse_objective(p, data, hp))
    assert float(t.total) == pytest.approx(f, rel=1e-4)  # float32 rounding of O(10) sums


def _F_reference(H, Y, lW, lH, lb):
    """F(H) = f(W̃_LS(H), H) with W̃_LS from a differentiable dense solve (jax.grad goes through it)."""
    N = H.shape[1]
    Ht = jnp.vstack([H, jnp.ones((1, N))])
    A = Ht @ Ht.T / N + jnp.diag(jnp.concatenate([lW * jnp.ones(H.shape[0]), jnp.array([lb])]))
    Wt = jnp.linalg.solve(A, Ht @ Y.T / N).T
    R = Wt @ Ht - Y
    return 0.5 * jnp.sum(R**2) / N + 0.5 * (lW * jnp.sum(Wt[:, :-1] ** 2) + lb * jnp.sum(Wt[:, -1] ** 2)
                                             + lH * jnp.sum(H**2))


@pytest.mark.parametrize("lams", [(1e-2, 3e-3, 5e-2), (0.0, 0.0, 0.0), (0.1, 0.0, 0.0)])
def test_envelope_gradient_equals_autodiff(lams):
    K, n, d = 4, 5, 6
    p, data, hp = _point(K, n, d, *lams, True, seed=3)
    F, g = jax.jit(lambda H: cp.central_path_value_and_grad(H, data.Y, hp))(p.H)
    F_ref, g_ref = jax.value_and_grad(_F_reference)(p.H, data.Y, *lams)
    assert float(F) == pytest.approx(float(F_ref), rel=1e-12)
    # Relative 1e-10 in norm: the envelope drops dW_LS/dH exactly; rounding of two solves remains.
    assert float(jnp.linalg.norm(g - g_ref)) <= 1e-10 * float(jnp.linalg.norm(g_ref))


@pytest.mark.slow
def test_invariance_and_omega_formulas():
    """λ = 0: F(AH + c1ᵀ) = F(H); F, L_NC1, L_NC2/3 are the ω formulas (incl. d < K − 1)."""
    rng = np.random.default_rng(0)
    hp = make_hparams(0.0, 0.0, 0.0)
    for K, n, d in [(4, 5, 6), (5, 4, 3), (10, 3, 12)]:  # d > K, d < K − 1, larger K
        data = make_data(K, n, d)
        H = jnp.asarray(rng.standard_normal((d, K * n)))
        F = float(cp.central_path_value_and_grad(H, data.Y, hp)[0])
        A = jnp.asarray(rng.standard_normal((d, d)))
        c = jnp.asarray(rng.standard_normal(d))
        F2 = float(cp.central_path_value_and_grad(A @ H + c[:, None], data.Y, hp)[0])
        assert F2 == pytest.approx(F, rel=1e-11)  # A has condition number ~1e2
        omega = cp.snr_singular_values(H, data.Y)
        assert omega.shape == (K - 1,)
        assert int(jnp.sum(omega > 1e-8)) == min(d, K - 1)
        terms = cp.central_path_terms(omega)
        W = cp.ls_classifier(H, data.Y, lam_W=0.0, lam_b=0.0)
        t = cp.decomposition(W.W, H, W.b, data.Y, hp)
        assert float(cp.central_path_loss(omega)) == pytest.approx(F, rel=1e-12)
        assert float(terms.nc1) == pytest.approx(float(t.nc1_within), rel=1e-11)
        assert float(terms.nc23) == pytest.approx(float(t.nc23), rel=1e-11)
        # ω is GL(d)-invariant.
        np.testing.assert_allclose(np.asarray(cp.snr_singular_values(A @ H + c[:, None], data.Y)), np.asarray(omega),
                                   rtol=1e-10, atol=1e-12)


def test_snr_warns_on_singular_within_class_covariance():
    K, n, d = 3, 2, 5  # d > K(n − 1) = 3: Σ_W singular
    data = make_data(K, n, d)
    H = jnp.asarray(np.random.default_rng(1).standard_normal((d, K * n)))
    with pytest.warns(RuntimeWarning, match="Sigma_W is ill-conditioned"):
        jax.block_until_ready(cp.snr_singular_values(H, data.Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jax.block_until_ready(cp.snr_singular_values(H[:3], data.Y))


def test_global_minimiser_is_on_the_central_path():
    """At THEORY.md §2's explicit minimiser L⊥ = 0 and the terms sum to the closed-form f*."""
    from nclandscape import theory

    prob = Problem(K=4, n=5, d=6, lambda_W=1e-3, lambda_H=1e-3, lambda_b=1e-3)
    g = theory.mse_global_min(4, 5, 6, 1e-3, 1e-3, 1e-3)
    W, H, b = (jnp.asarray(x) for x in theory.mse_global_minimizer(4, 5, 6, 1e-3, 1e-3, 1e-3))
    t = cp.decomposition(W, H, b, prob.data().Y, prob.hparams())
    assert float(t.total) == pytest.approx(g.f_star, rel=1e-12)
    assert float(t.perp) <= 1e-14 * g.f_star
