"""UFM objectives against NumPy float64 references; gradients; padding; dtypes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from nclandscape.objectives import ce_objective, mse_objective, objective_for
from nclandscape.errors import ConfigError
from nclandscape.ufm import HParams, Params, Problem, init_params, make_data, make_hparams


def _rand(K, d, N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(K, d)), rng.normal(size=(d, N)), rng.normal(size=K)


def _np_rescaled(W, H, b, Y, lw, lh, lb, alpha, M):
    Z = W @ H + b[:, None]
    Om = np.where(Y > 0, alpha, 1.0)
    N = Y.shape[1]
    return np.sum(Om * (Z - M * Y) ** 2) / (2 * N) + lw / 2 * np.sum(W**2) + lh / 2 * np.sum(H**2) + lb / 2 * np.sum(b**2)


def _np_ce(W, H, b, Y, lw, lh, lb):
    Z = W @ H + b[:, None]
    Z = Z - Z.max(0)
    logp = Z - np.log(np.exp(Z).sum(0))
    return -np.sum(Y * logp) / Y.shape[1] + lw / 2 * np.sum(W**2) + lh / 2 * np.sum(H**2) + lb / 2 * np.sum(b**2)


@pytest.mark.parametrize("alpha,M", [(1.0, 1.0), (3.0, 5.0)])
def test_mse_matches_numpy(alpha, M):
    K, n, d = 4, 3, 5
    W, H, b = _rand(K, d, K * n)
    data = make_data(K, n, d)
    hp = make_hparams(1e-2, 2e-2, 3e-2, alpha, M)
    got = jax.jit(mse_objective)(Params(*map(jnp.asarray, (W, H, b))), data, hp)
    ref = _np_rescaled(W, H, b, np.asarray(data.Y), 1e-2, 2e-2, 3e-2, alpha, M)
    assert float(got) == pytest.approx(ref, rel=1e-13)  # same float64 sums, different order


def test_ce_matches_numpy_and_unbalanced_classes():
    sizes = (2, 5, 1)
    K, d = 3, 4
    N = sum(sizes)
    W, H, b = _rand(K, d, N, seed=1)
    data = make_data(K, 0 + 1, d, class_sizes=sizes)
    hp = make_hparams(1e-2, 2e-2, 3e-2)
    got = jax.jit(ce_objective)(Params(*map(jnp.asarray, (W, H, b))), data, hp)
    ref = _np_ce(W, H, b, np.asarray(data.Y), 1e-2, 2e-2, 3e-2)
    assert float(got) == pytest.approx(ref, rel=1e-13)
    assert np.asarray(data.Y).sum(1).tolist() == list(sizes)


def test_no_bias_ignores_b():
    K, n, d = 3, 2, 4
    W, H, b = _rand(K, d, K * n, seed=2)
    data = make_data(K, n, d, bias=False)
    hp = make_hparams(1e-2, 1e-2, 1e-2)
    f1 = mse_objective(Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)), data, hp)
    f0 = mse_objective(Params(jnp.asarray(W), jnp.asarray(H), jnp.zeros(K)), data, hp)
    assert float(f1) == float(f0)


@pytest.mark.parametrize("obj", [mse_objective, ce_objective])
def test_gradients(obj):
    K, n, d = 3, 2, 4
    W, H, b = _rand(K, d, K * n, seed=3)
    data = make_data(K, n, d)
    hp = make_hparams(1e-2, 2e-2, 3e-2, 2.0, 1.5)
    f = jax.jit(lambda p: obj(p, data, hp))
    check_grads(f, (Params(*map(jnp.asarray, (W, H, b))),), order=2, modes=["rev"])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_padding_changes_nothing(loss):
    K, n, d = 3, 2, 4
    data = make_data(K, n, d)
    pdata = make_data(K, n, d, pad_to=(5, 9, 6))
    hp = make_hparams(1e-2, 2e-2, 3e-2, 2.0, 1.5)
    p = init_params(jax.random.PRNGKey(0), data)
    pp = init_params(jax.random.PRNGKey(0), pdata)
    # The padding-invariant initialisation draws the same real entries.
    np.testing.assert_array_equal(np.asarray(pp.W)[:K, :d], np.asarray(p.W))
    np.testing.assert_array_equal(np.asarray(pp.H)[:d, : K * n], np.asarray(p.H))
    obj = objective_for(loss)
    assert float(obj(pp, pdata, hp)) == pytest.approx(float(obj(p, data, hp)), rel=1e-14)
    g, gp = jax.grad(obj)(p, data, hp), jax.grad(obj)(pp, pdata, hp)
    np.testing.assert_allclose(np.asarray(gp.W)[:K, :d], np.asarray(g.W), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(np.asarray(gp.H)[:d, : K * n], np.asarray(g.H), rtol=1e-13, atol=1e-16)
    assert float(jnp.abs(gp.W).sum() - jnp.abs(gp.W[:K, :d]).sum()) == 0.0  # no gradient on padding


def test_vmap_over_hyperparameters():
    K, n, d = 3, 2, 4
    data = make_data(K, n, d)
    p = init_params(jax.random.PRNGKey(1), data)
    lw = jnp.array([1e-3, 1e-2, 1e-1])
    hp = make_hparams(lw, 1e-2, 1e-2)
    axes = HParams(0, None, None, None, None)
    vals = jax.jit(jax.vmap(lambda h: mse_objective(p, data, h), in_axes=(axes,)))(hp)
    for i in range(3):
        assert float(vals[i]) == pytest.approx(float(mse_objective(p, data, make_hparams(float(lw[i]), 1e-2, 1e-2))), rel=1e-14)


def test_float32_stays_float32():
    with jax.experimental.enable_x64(False) if hasattr(jax, "experimental") and hasattr(jax.experimental, "enable_x64") else _nullctx():
        data = make_data(3, 2, 4, dtype=jnp.float32)
        p = init_params(jax.random.PRNGKey(0), data)
        hp = make_hparams(1e-3, 1e-3, 1e-3, dtype=jnp.float32)
        assert p.W.dtype == jnp.float32
        assert jax.jit(mse_objective)(p, data, hp).dtype == jnp.float32
        assert jax.jit(ce_objective)(p, data, hp).dtype == jnp.float32


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_bad_input_messages():
    with pytest.raises(ConfigError, match="K must be an integer >= 2"):
        Problem(K=1)
    with pytest.raises(ConfigError, match="d must be an integer >= 1"):
        Problem(d=0)
    with pytest.raises(ConfigError, match="weight decay must be >= 0"):
        Problem(lambda_H=-1e-3)
    with pytest.raises(ConfigError, match="choose one of"):
        Problem(loss="hinge")
    with pytest.raises(ConfigError, match="finite"):
        Problem(lambda_W=float("nan"))
    with pytest.raises(ConfigError, match="loss="):
        objective_for("hinge")
