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
    # float64 on an exactly collapsed point: only rounding (~1e-16) remains; 1e-12 is the target accuracy.
    for v in (m.nc1, m.nc2, m.nc3, m.nc4):
        assert abs(float(v)) < 1e-12
    assert float(m.numerical_rank) == pytest.approx(1.0, abs=1e-12)
    # Cosine margin of a simplex ETF: 1 - (-1/(K-1)) = K/(K-1).
    assert float(m.min_cos_margin) == pytest.approx(K / (K - 1), rel=1e-12)


@pytest.mark.slow
def test_zero_on_the_rank_d_global_minimizer():
    # d < K - 1: NC2/NC3 compare with the (nearest) best rank-d approximation of I - 11^T/K.
    K, n, d = 6, 3, 2
    W, H, b = theory.mse_global_minimizer(K, n, d, 1e-3, 2e-3, 1e-2)
    Y = np.repeat(np.eye(K), n, axis=1)
    m = nc_metrics(*map(jnp.asarray, (W, H, b, Y)))
    assert float(m.nc1) < 1e-12 and float(m.nc2) < 1e-12 and float(m.nc3) < 1e-12


@pytest.mark.slow
def test_positive_on_random_points():
    rng = np.random.default_rng(3)
    K, n, d = 5, 4, 7
    W, H, b = rng.normal(size=(K, d)), rng.normal(size=(d, K * n)), rng.normal(size=K)
    Y = np.repeat(np.eye(K), n, axis=1)
    m = nc_metrics(*map(jnp.asarray, (W, H, b, Y)))
    assert float(m.nc1) > 0.1 and float(m.nc2) > 0.1 and float(m.nc3) > 0.1
    assert float(m.numerical_rank) > 1.5


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- NC2/NC3 for d < K - 1 against a brute-force best rank-d target -------------------------------

def _brute_force_etf_distance(A, d, restarts=6, seed=0):
    """min over d-dim subspaces V of 1^⊥ of ||A/||A||_F - P_V/sqrt(d)||_F, found numerically.

    V = B Q with B an orthonormal basis of 1^⊥ and Q = qr(Z) for an unconstrained (K-1, d) Z;
    BFGS from several random starts (float64). The minimum over this family is what THEORY.md §6
    calls the distance to the normalised best rank-d approximation of I - 11^T/K.
    """
    from scipy.optimize import minimize

    K = A.shape[0]
    An = A / np.linalg.norm(A)
    B = np.linalg.eigh(np.eye(K) - np.ones((K, K)) / K)[1][:, 1:]

    def dist(z):
        Q, _ = np.linalg.qr(z.reshape(K - 1, d))
        V = B @ Q
        return np.linalg.norm(An - V @ V.T / np.sqrt(d))

    rng = np.random.default_rng(seed)
    best = np.inf
    for _ in range(restarts):
        res = minimize(dist, rng.normal(size=(K - 1) * d), method="BFGS", options={"gtol": 1e-10})
        best = min(best, res.fun)
    return best


def _centred_means(H, K, n):
    means = H.reshape(H.shape[0], K, n).mean(axis=2)
    return means - means.mean(axis=1, keepdims=True)


def _problem(rng, K, n, d, hard):
    """One random d < K - 1 problem. ``hard`` ones are far from collapse in the way that defeats a
    plain top-d eigenspace: W anti-aligned with the class means (sym(W H̄) mostly negative on
    1^⊥) and of centred rank 1 < d (W W^T has fewer than d positive eigenvalues on 1^⊥)."""
    H = rng.normal(size=(d, K * n))
    if hard:
        W = -_centred_means(H, K, n).T + 0.05 * rng.normal(size=(K, d))
        W[:, 1:] = np.outer(W[:, 0], rng.normal(size=d - 1)) + rng.normal(size=d - 1)[None, :]
    else:
        W = rng.normal(size=(K, d))
    return W, H


@pytest.mark.slow
@pytest.mark.parametrize("K,n,d", [(5, 2, 2), (6, 1, 3), (7, 1, 4)])
def test_low_rank_nc2_nc3_equal_the_brute_force_best_rank_d_target(K, n, d):
    rng = np.random.default_rng(K * 100 + d)
    probs = [_problem(rng, K, n, d, hard=i % 2 == 1) for i in range(6)]
    Y = jnp.asarray(np.repeat(np.eye(K), n, axis=1))
    Ws, Hs = (jnp.asarray(np.stack(x)) for x in zip(*probs))
    m = jax.jit(jax.vmap(lambda W, H: nc_metrics(W, H, None, Y)))(Ws, Hs)
    for i, (W, H) in enumerate(probs):
        # The metric is a distance to one target of the family, so it is >= the minimum; BFGS
        # over the Stiefel manifold (trace maximisation has no spurious local optima) reaches the
        # minimum to ~1e-8, so 1e-6 separates "equal" from the 1e-2..1 errors of a wrong target.
        assert float(m.nc2[i]) == pytest.approx(_brute_force_etf_distance(W @ W.T, d), abs=1e-6)
        bf3 = _brute_force_etf_distance(W @ _centred_means(H, K, n), d)
        assert float(m.nc3[i]) == pytest.approx(bf3, abs=1e-6)


@pytest.mark.slow
def test_low_rank_nc2_nc3_with_padding_equal_the_brute_force():
    # Problems of several sizes padded to one shape, as the sweep engine pads a bucket: padded
    # classes, samples and feature dimensions must not enter the target.
    rng = np.random.default_rng(12)
    Kp, Np, dp = 8, 14, 6
    sizes = [(4, 2, 2), (5, 2, 3), (7, 2, 4), (8, 1, 5), (6, 2, 2), (7, 1, 3)]
    probs = [(K, n, d, *_problem(rng, K, n, d, hard=i % 2 == 0)) for i, (K, n, d) in enumerate(sizes)]
    cols = {k: [] for k in ("W", "H", "Y", "sm", "cm", "dim")}
    for K, n, d, W, H in probs:
        data = make_data(K, n, d, pad_to=(Kp, Np, dp))
        Wp = np.zeros((Kp, dp)); Wp[:K, :d] = W
        Hp = np.zeros((dp, Np)); Hp[:d, : K * n] = H
        for k, v in zip(cols, (Wp, Hp, data.Y, data.sample_mask, data.class_mask, d)):
            cols[k].append(np.asarray(v))
    W, H, Y, sm, cm, dim = (jnp.asarray(np.stack(cols[k])) for k in cols)
    m = jax.jit(jax.vmap(lambda W, H, Y, sm, cm, dim: nc_metrics(
        W, H, None, Y, sample_mask=sm, class_mask=cm, dim=dim)))(W, H, Y, sm, cm, dim)
    for i, (K, n, d, W, H) in enumerate(probs):
        # Same 1e-6 as the unpadded test: BFGS precision, far below a wrong target's error.
        assert float(m.nc2[i]) == pytest.approx(_brute_force_etf_distance(W @ W.T, d), abs=1e-6)
        bf3 = _brute_force_etf_distance(W @ _centred_means(H, K, n), d)
        assert float(m.nc3[i]) == pytest.approx(bf3, abs=1e-6)


@pytest.mark.slow
def test_low_rank_examples_reach_at_least_the_minimum():
    # K = 4, d = 2, far from collapse. Example 1: centred W has rank 1, so W W^T has one positive
    # eigenvalue on 1^⊥; by hand (Av = 4v, v = (1,-1,1,-1)) the minimum distance is exactly 1.
    Y = np.eye(4)
    W = np.array([[1.0, 1], [1, -1], [1, 1], [1, -1]])
    m = nc_metrics(jnp.asarray(W), jnp.asarray(W.T), None, jnp.asarray(Y))
    assert float(m.nc2) == pytest.approx(1.0, abs=1e-12)  # float64 rounding only
    # Example 2: sym(W H̄) is mostly negative on 1^⊥; minimum from brute force (1.3683...).
    W = np.array([[0.0, -2], [-1, 1], [0, -1], [-1, -2]])
    H = np.array([[-2.0, 2, 1, 0], [-1, 0, -2, 1]])
    m = nc_metrics(jnp.asarray(W), jnp.asarray(H), None, jnp.asarray(Y))
    bf = _brute_force_etf_distance(W @ _centred_means(H, 4, 1), 2)
    assert bf == pytest.approx(1.3683, abs=1e-4)
    assert float(m.nc3) == pytest.approx(bf, abs=1e-6)  # BFGS precision, as above
