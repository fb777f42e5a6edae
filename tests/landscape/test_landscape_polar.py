"""Polar landscapes (nclandscape.landscape.polar) against THEORY.md §7 and the UFM objective.

The implementation evaluates the real per-sample objective of the feature; here it is compared
with (a) the closed forms of THEORY.md §7 written out in NumPy, and (b) the full UFM objective of
:mod:`nclandscape.objectives` at a W, H with the feature placed in the plane.

Tolerances: every compared quantity is a handful of float64 operations on numbers of size
<= ~100, so rounding is ~1e-14 relative; we ask for 1e-10 relative-or-absolute
and say so where something looser is needed.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from nclandscape.errors import ConfigError
from nclandscape.landscape import (
    etf_plane, limit_plane, make_plane, parse_K, parse_list, plane_basis, polar_landscape, polar_loss,
    polar_minimizer_on_ray, simplex_etf,
)
from nclandscape.objectives import objective_for
from nclandscape.ufm import Params, make_data, make_hparams

TOL = 1e-10
S = np.linspace(0.0, 5.0, 11)
THETA = np.linspace(-np.pi, np.pi, 25)


def close(a, b, tol=TOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    err = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))
    assert err <= tol, f"max relative-or-absolute error {err:.3e} > {tol:.1e}"


# ------------------------------------------------------------------ closed forms (THEORY.md §7)


def logits_closed(K, s, th):
    """(z_k, z_k', z_other) of THEORY.md §7, broadcast over s (rows) and theta (columns)."""
    s, th = np.asarray(s)[:, None], np.asarray(th)[None, :]
    zk = s * np.cos(th)
    zkp = s * (-np.cos(th) + math.sqrt(K * K - 2 * K) * np.sin(th)) / (K - 1)
    zo = -s * (np.cos(th) + (math.sqrt(K / (K - 2)) if K > 2 else 0.0) * np.sin(th)) / (K - 1)
    return zk, zkp, zo


def mse_closed(K, s, th, alpha=1.0, M=1.0, lam=0.0):
    zk, zkp, zo = logits_closed(K, s, th)
    return 0.5 * (alpha * (zk - M) ** 2 + zkp**2 + (K - 2) * zo**2) + 0.5 * lam * np.asarray(s)[:, None] ** 2


def ce_closed(K, s, th, lam=0.0):
    zk, zkp, zo = logits_closed(K, s, th)
    m = np.maximum(np.maximum(zk, zkp), zo)
    lse = m + np.log(np.exp(zk - m) + np.exp(zkp - m) + (K - 2) * np.exp(zo - m))
    return lse - zk + 0.5 * lam * np.asarray(s)[:, None] ** 2


def mse_limit_closed(s, th, alpha=1.0, M=1.0, lam=0.0):
    s, th = np.asarray(s)[:, None], np.asarray(th)[None, :]
    return 0.5 * alpha * (s * np.cos(th) - M) ** 2 + 0.5 * s**2 * np.sin(th) ** 2 + 0.5 * lam * s**2


def eq34(s, th, alpha, M):
    """The paper's eq. 34: (∂_s, ∂_θ) of the K → ∞ rescaled MSE."""
    s, th = np.asarray(s)[:, None], np.asarray(th)[None, :]
    gs = s + (alpha - 1) * s * np.cos(th) ** 2 - alpha * M * np.cos(th)
    gt = alpha * M * s * np.sin(th) - (alpha - 1) * s**2 * np.sin(th) * np.cos(th)
    return gs, gt


@jax.jit
def _grid_mse(s, th, plane, hp):
    return polar_landscape(s, th, plane, hp, loss="rescaled_mse")


def grid(loss, K, *, alpha=1.0, M=1.0, lam=0.0, s=S, th=THETA):
    plane = limit_plane() if K == math.inf else etf_plane(K)
    hp = make_hparams(0.0, lam, 0.0, alpha, M)
    return jax.jit(lambda s, t, p, h: polar_landscape(s, t, p, h, loss=loss))(jnp.asarray(s), jnp.asarray(th), plane, hp)


# ------------------------------------------------------------------ grid vs closed forms


@pytest.mark.parametrize("K", [3, 4, 10, 57])
@pytest.mark.parametrize("alpha,M,lam", [(1.0, 1.0, 0.0), (2.5, 3.0, 0.0), (4.0, 1.5, 0.1)])
def test_mse_grid_equals_closed_form(K, alpha, M, lam):
    g = grid("rescaled_mse", K, alpha=alpha, M=M, lam=lam)
    close(g.loss, mse_closed(K, S, THETA, alpha, M, lam))
    if alpha == 1.0 and M == 1.0:
        close(grid("mse", K, lam=lam).loss, g.loss)


@pytest.mark.parametrize("K", [3, 4, 10, 57])
@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_ce_grid_equals_closed_form(K, lam):
    close(grid("ce", K, lam=lam).loss, ce_closed(K, S, THETA, lam))


def test_k2_has_no_other_classes():
    # K = 2: w^1 = -w^0, the second in-plane direction is orthogonal to both rows (changes no logit).
    close(grid("rescaled_mse", 2, alpha=2.0, M=3.0).loss, mse_closed(2, S, THETA, 2.0, 3.0))
    close(grid("ce", 2).loss, ce_closed(2, S, THETA))


@pytest.mark.parametrize("K", [3, 10, 57])
def test_mse_minus_limit_is_exactly_s2_over_2_K_minus_1(K):
    # Σ_{j≠k} ⟨w^j,h⟩² = s²(K/(K−1) − cos²θ) for a unit simplex ETF: f_K − f_∞ = s²/(2(K − 1)).
    gK = grid("rescaled_mse", K, alpha=3.0, M=2.0)
    gi = grid("rescaled_mse", math.inf, alpha=3.0, M=2.0)
    close(np.asarray(gK.loss) - np.asarray(gi.loss), np.broadcast_to(S[:, None] ** 2 / (2 * (K - 1)), gK.loss.shape))


@pytest.mark.parametrize("alpha,M", [(1.0, 1.0), (2.0, 1.0), (1.0, 4.0), (5.0, 3.0)])
def test_limit_and_eq34_gradient(alpha, M):
    g = grid("rescaled_mse", math.inf, alpha=alpha, M=M)
    close(g.loss, mse_limit_closed(S, THETA, alpha, M))
    gs, gt = eq34(S, THETA, alpha, M)
    close(g.grad_s, gs)
    close(g.grad_theta, gt)


def test_ce_limit_is_centred_large_K_ce():
    g = grid("ce", math.inf, lam=0.02)
    close(g.loss, -S[:, None] * np.cos(THETA)[None, :] + 0.01 * S[:, None] ** 2)
    # Convergence: CE_K − log(K − 1) → −s cos θ; the gap is ≤ (1 + e^{s(sinθ − cosθ)})/(K − 1) + O(s/K)
    # ≲ e^{5√2}/1e8 + 5e-8 ≈ 1.2e-5 on this grid.
    K = 10**8
    gap = ce_closed(K, S, THETA, 0.02) - math.log(K - 1) - np.asarray(g.loss)
    assert np.max(np.abs(gap)) < 2e-5


# ------------------------------------------------------------------ against the full UFM objective


def _rotated_etf(K, d, seed=0):
    """[ETF, 0] Q: a unit simplex ETF in R^d (d ≥ K) in a random orientation."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    W = np.zeros((K, d))
    W[:, :K] = simplex_etf(K)
    return W @ Q


@pytest.mark.parametrize("loss,alpha,M", [("mse", 1.0, 1.0), ("rescaled_mse", 2.5, 3.0), ("ce", 1.0, 1.0)])
def test_grid_equals_ufm_objective_at_constructed_features(loss, alpha, M):
    K, n, d, k, kp, lam = 5, 2, 7, 2, 4, 0.07
    W = _rotated_etf(K, d)
    plane = make_plane(W, k, kp)
    e1, e2 = plane_basis(W, k, kp)
    hp = make_hparams(0.0, lam, 0.3, alpha, M)
    s, th = np.array([0.0, 0.4, 1.3, 2.9]), np.array([-3.0, -1.1, 0.0, 0.7, 2.2])
    g = jax.jit(lambda s, t, p, h: polar_landscape(s, t, p, h, loss=loss))(jnp.asarray(s), jnp.asarray(th), plane, hp)

    objective = objective_for(loss)
    col = k * n  # the first sample of class k
    full = make_data(K, n, d)
    one = full._replace(sample_mask=jnp.zeros(K * n).at[col].set(1.0))  # only that sample counts
    obj_one = jax.jit(lambda H: objective(Params(jnp.asarray(W), H, jnp.zeros(K)), one, hp))
    obj_full = jax.jit(lambda H: objective(Params(jnp.asarray(W), H, jnp.zeros(K)), full, hp))
    grad_one = jax.jit(jax.grad(lambda H: objective(Params(jnp.asarray(W), H, jnp.zeros(K)), one, hp)))
    N = K * n
    ell0 = math.log(K) if loss == "ce" else 0.5 * alpha * M**2  # loss of a zero feature
    for i, si in enumerate(s):
        for j, tj in enumerate(th):
            u_r = math.cos(tj) * e1 + math.sin(tj) * e2
            u_t = -math.sin(tj) * e1 + math.cos(tj) * e2
            H = jnp.zeros((d, N)).at[:, col].set(si * u_r)
            ref = float(obj_one(H))  # = ℓ(h) + λ_H/2 s² (λ_W = 0, b = 0)
            close(g.loss[i, j], ref)
            # Unmasked: the other N − 1 samples sit at h = 0.
            close(g.loss[i, j], N * float(obj_full(H)) - (N - 1) * (ell0 + 0.5 * lam * si**2))
            # Gradient field = the UFM gradient w.r.t. that feature in polar components.
            gh = np.asarray(grad_one(H))[:, col]
            close(g.grad_s[i, j], gh @ u_r)
            close(g.grad_theta[i, j], si * (gh @ u_t))


@pytest.mark.slow
def test_polar_loss_grads_check():
    # Autodiff of the polar loss matches finite differences (float64; check_grads' default tolerances).
    hp = make_hparams(0.0, 0.1, 0.0, 2.0, 3.0)
    for loss in ("rescaled_mse", "ce"):
        f = jax.jit(lambda s, t: polar_loss(s, t, etf_plane(6), hp, loss=loss))
        check_grads(f, (1.3, 0.4), order=2, modes=["rev"])


# ------------------------------------------------------------------ minimiser, compile-once, dtype


def test_minimizer_on_ray():
    # θ = 0: MSE form ½α(s − M)² + ½s²/(K − 1) + ½λs²  ⇒  s* = αM / (α + 1/(K − 1) + λ).
    for K, alpha, M, lam in [(10, 1.0, 1.0, 0.0), (4, 3.0, 2.0, 0.1)]:
        hp = make_hparams(0.0, lam, 0.0, alpha, M)
        s_star = float(polar_minimizer_on_ray(etf_plane(K), hp, loss="rescaled_mse"))
        close(s_star, alpha * M / (alpha + 1 / (K - 1) + lam))
    close(float(polar_minimizer_on_ray(limit_plane(), make_hparams(0, 0, 0, 4.0, 3.0), loss="rescaled_mse")), 3.0)
    # CE at θ = 0: all other logits are −s/(K−1): f = log(1 + (K−1)e^{−as}) + λs²/2, a = K/(K−1).
    K, lam = 10, 0.05
    s_star = float(polar_minimizer_on_ray(etf_plane(K), make_hparams(0, lam, 0, 1, 1), loss="ce"))
    a = K / (K - 1)
    e = (K - 1) * math.exp(-a * s_star)
    assert abs(-a * e / (1 + e) + lam * s_star) < 1e-12  # the closed-form derivative vanishes


def test_compiles_once_over_hyperparameters():
    traces = []

    @jax.jit
    def run(hp):
        traces.append(1)
        return polar_landscape(jnp.asarray(S), jnp.asarray(THETA), etf_plane(5), hp, loss="rescaled_mse").loss

    outs = [run(make_hparams(0.0, lam, 0.0, a, m)) for a, m, lam in [(1, 1, 0), (2, 3, 0.1), (5, 2, 0.2)]]
    assert len(traces) == 1
    close(outs[1], mse_closed(5, S, THETA, 2.0, 3.0, 0.1))
    # and vmapped over α in one program
    alphas = jnp.asarray([1.0, 2.0, 4.0])
    hps = jax.vmap(lambda a: make_hparams(0.0, 0.0, 0.0, 1.0, 2.0)._replace(alpha=a))(alphas)
    batched = jax.jit(jax.vmap(lambda h: polar_landscape(jnp.asarray(S), jnp.asarray(THETA), etf_plane(5), h, loss="rescaled_mse").loss))(hps)
    for i, a in enumerate([1.0, 2.0, 4.0]):
        close(batched[i], mse_closed(5, S, THETA, a, 2.0))


def test_float32_stays_float32():
    plane = etf_plane(4, dtype=jnp.float32)
    hp = make_hparams(0.0, 0.0, 0.0, 2.0, 2.0, dtype=jnp.float32)
    g = jax.jit(lambda s, t, p, h: polar_landscape(s, t, p, h, loss="rescaled_mse"))(
        jnp.asarray(S, jnp.float32), jnp.asarray(THETA, jnp.float32), plane, hp)
    assert g.loss.dtype == g.grad_s.dtype == g.grad_theta.dtype == jnp.float32
    # float32 rounding: ~1e-7 relative on values ≤ ~80.
    np.testing.assert_allclose(np.asarray(g.loss), mse_closed(4, S, THETA, 2.0, 2.0), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ inputs


def test_parse_list_and_K():
    np.testing.assert_allclose(parse_list("0:1:3,5"), [0.0, 0.5, 1.0, 5.0])
    np.testing.assert_allclose(parse_list("-pi:pi:3"), [-math.pi, 0.0, math.pi])
    np.testing.assert_allclose(parse_list("pi/2,0.5pi,3*pi/4,-2e-1"), [math.pi / 2, math.pi / 2, 3 * math.pi / 4, -0.2])
    for bad in ["", "1,,2", "a", "0:1", "0:1:x", "0:1:0", "1/0", "0:1:2:3"]:
        with pytest.raises(ConfigError):
            parse_list(bad)
    assert parse_K("inf") == math.inf and parse_K("12") == 12
    for bad in ["1", "x", "2.5"]:
        with pytest.raises(ConfigError):
            parse_K(bad)
    with pytest.raises(ConfigError):
        simplex_etf(1)
    with pytest.raises(ConfigError):
        plane_basis(simplex_etf(3), 1, 1)
    with pytest.raises(ConfigError):  # K = 2 with d = rank(W) = 1: no room for a second direction
        plane_basis(np.array([[1.0], [-1.0]]), 0, 1)
