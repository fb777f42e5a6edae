"""NC metrics (THEORY.md §6): exactly 0 on constructed NC solutions, positive elsewhere."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape import theory
from nclandscape.metrics import cosine_margins, nc_metrics
from nclandscape.ufm import make_data


def _etf_solution(K, n, d, seed=0, scale_w=1.7, scale_h=0.4):
    rng = np.random.default_rng(seed)
    P = np.eye(K) - np.ones((K, K)) / K
    B = np.linalg.eigh(P)[1][:, 1:]  # (K, K-1) orthonormal basis of 1^⊥
    Q, _ = np.linalg.qr(rng.normal(size=(d, K - 1)))  # random isometry R^{K-1} -> R^d (d >= K-1)
    means = Q @ B.T  # (d, K) simplex ETF class means, Gram = P
    W = scale_w * means.T
    H = np.repeat(scale_h * means, n, axis=1)
    return W, H, np.zeros(K), np.repeat(np.eye(K), n, axis=1)


@pytest.mark.parametrize("K,n,d", [(4, 3, 6), (10, 2, 9), (3, 5, 12)])
def test_zero_on_constructed_nc_solutions(K, n, d):
    W, H, b, Y = _etf_solution(K, n, d)
    m = jax.jit(nc_metrics)(*map(jnp.asarray, (W, H, b, Y)))
    # float64 on an exactly collapsed point: only rounding (~1e-16) remains; 1e-12 is the bound.
    for v in (m.nc1, m.nc2, m.nc3, m.nc4):
        assert abs(float(v)) < 1e-12
    assert float(m.numerical_rank) == pytest.approx(1.0, abs=1e-12)
    # Cosine margin of a simplex ETF: 1 - (-1/(K-1)) = K/(K-1).
    assert float(m.min_cos_margin) == pytest.approx(K / (K - 1), rel=1e-12)


def test_zero_on_the_rank_d_global_minimizer():
    # d < K - 1: NC2/NC3 compare with the (nearest) best rank-d approximation of I - 11^T/K.
    K, n, d = 6, 3, 2
    W, H, b = theory.mse_global_minimizer(K, n, d, 1e-3, 2e-3, 1e-2)
    Y = np.repeat(np.eye(K), n, axis=1)
    m = nc_metrics(*map(jnp.asarray, (W, H, b, Y)))
    assert float(m.nc1) < 1e-12 and float(m.nc2) < 1e-12 and float(m.nc3) < 1e-12


def test_positive_on_random_points():
    rng = np.random.default_rng(3)
    K, n, d = 5, 4, 7
    W, H, b = rng.normal(size=(K, d)), rng.normal(size=(d, K * n)), rng.normal(size=K)
    Y = np.repeat(np.eye(K), n, axis=1)
    m = nc_metrics(*map(jnp.asarray, (W, H, b, Y)))
    assert float(m.nc1) > 0.1 and float(m.nc2) > 0.1 and float(m.nc3) > 0.1
    assert float(m.numerical_rank) > 1.5


def test_nc1_matches_dense_pinv_formula():
    rng = np.random.default_rng(4)
    K, n, d = 4, 6, 8
    H = rng.normal(size=(d, K * n))
    Y = np.repeat(np.eye(K), n, axis=1)
    means = H.reshape(d, K, n).mean(axis=2)
    hG = H.mean(axis=1)
    X = H - np.repeat(means, n, axis=1)
    SW = X @ X.T / (K * n)
    Hb = means - hG[:, None]
    SB = Hb @ Hb.T / K
    ref = np.trace(SW @ np.linalg.pinv(SB)) / K
    m = nc_metrics(jnp.zeros((K, d)), jnp.asarray(H), None, jnp.asarray(Y))
    assert float(m.nc1) == pytest.approx(ref, rel=1e-10)  # float64 pinv vs eigen route


def test_nc4_and_margins_by_hand():
    # Two classes in 1-D: sample 1 of class 0 sits nearer class 1's mean.
    W = jnp.array([[1.0], [-1.0]])
    H = jnp.array([[2.0, -0.5, -2.0, -2.0]])
    Y = jnp.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    m = nc_metrics(W, H, jnp.zeros(2), Y)
    # class means 0.75 and -2; sample -0.5 -> nearest mean 0.75 (dist 1.25) vs -2 (1.5): class 0;
    # classifier: logits (-0.5, 0.5) -> class 1. One mismatch of four.
    assert float(m.nc4) == pytest.approx(0.25)
    cm = cosine_margins(W, H, Y)
    # Global mean -0.625, w_G = 0: cos = sign(w) * sign(h - hG).
    np.testing.assert_allclose(np.asarray(cm), [2.0, 2.0, 2.0, 2.0])


def test_padding_changes_nothing():
    K, n, d = 3, 2, 4
    W, H, b, Y = _etf_solution(K, n, d)
    rng = np.random.default_rng(5)
    H = H + 0.1 * rng.normal(size=H.shape)
    W = W + 0.1 * rng.normal(size=W.shape)
    ref = nc_metrics(*map(jnp.asarray, (W, H, b, Y)))
    data = make_data(K, n, d, pad_to=(5, 10, 7))
    Wp = np.zeros((5, 7)); Wp[:K, :d] = W
    Hp = np.zeros((7, 10)); Hp[:d, : K * n] = H
    bp = np.zeros(5); bp[:K] = b
    got = nc_metrics(jnp.asarray(Wp), jnp.asarray(Hp), jnp.asarray(bp), data.Y, sample_mask=data.sample_mask, class_mask=data.class_mask, dim=d)
    for a, c in zip(ref, got):
        assert float(c) == pytest.approx(float(a), rel=1e-10, abs=1e-14)


def test_float32_nc1_never_negative_on_1000_random_problems():
    K, n, d = 10, 5, 12
    Y = jnp.asarray(np.repeat(np.eye(K), n, axis=1), jnp.float32)

    def one(key):
        kw, kh, ks = jax.random.split(key, 3)
        # Nearly collapsed features (tiny within-class spread) are where a float32 pinv goes negative.
        spread = 10.0 ** jax.random.uniform(ks, (), jnp.float32, -6.0, 0.0)
        means = jax.random.normal(kh, (d, K), jnp.float32)
        H = jnp.repeat(means, n, axis=1) + spread * jax.random.normal(kw, (d, K * n), jnp.float32)
        return nc_metrics(jnp.zeros((K, d), jnp.float32), H, None, Y).nc1

    nc1 = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(0), 1000))
    assert nc1.dtype == jnp.float32  # float32 stays float32
    assert bool(jnp.all(nc1 >= 0)) and bool(jnp.all(jnp.isfinite(nc1)))
