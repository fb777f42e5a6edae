"""Dense and structured Hessian spectra, and the sweep columns (float64 unless stated).

References: the closed-form saddle eigenvalue of THEORY.md §3 (independent of any Hessian code),
and the dense Hessian (P forward-over-reverse HVPs + eigh) for the structured spectrum.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape.hessian import (
    HESSIAN_METHODS,
    dense_hessian,
    dense_spectrum,
    expand,
    hvp,
    structured_spectrum,
    sweep_columns,
)
from nclandscape.objectives import objective_for
from nclandscape.theory import mse_global_minimizer, nobias_critical_point
from nclandscape.ufm import Params, Problem, make_data, make_hparams

# Compiled once per (objective, shapes, method) and shared by the tests: hyper-parameters and data
# are arguments, not closure constants, so the same program serves every case of a shape.
_dense_jit = jax.jit(dense_spectrum, static_argnums=0)
_struct_jit = jax.jit(structured_spectrum, static_argnums=0)
_cols_jit = jax.jit(sweep_columns, static_argnums=0, static_argnames=("method", "dense_max", "lanczos_steps"))

# Eigenvalues here are O(1e-3 … 1); float64 eigh of a P <= 100 symmetric matrix is accurate to
# ~1e-15 · ‖A‖, so 1e-9 (the target) leaves six orders of margin.
TOL = 1e-9


def _params(W, H, b):
    return Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b))


def _collapsed_point(K, sizes, d, seed, bias=True):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(K, d)) * 0.7
    Hm = rng.normal(size=(d, K)) * 0.7
    H = np.concatenate([np.repeat(Hm[:, [k]], s, axis=1) for k, s in enumerate(sizes)], axis=1)
    b = rng.normal(size=K) * 0.3 if bias else np.zeros(K)
    return _params(W, H, b)


def _dense_values(obj, p, data, hp):
    s = _dense_jit(obj, p, data, hp)
    return np.asarray(s.values)[np.asarray(s.valid)]


@pytest.mark.slow
def test_hvp_matches_dense_hessian_columns():
    pr = Problem(K=3, n=2, d=4, loss="ce", lambda_W=1e-2, lambda_H=2e-2, lambda_b=3e-2)
    data, hp = pr.data(), pr.hparams()
    p = _collapsed_point(3, [2, 2, 2], 4, 0)
    p = p._replace(H=p.H + 0.1 * jnp.asarray(np.random.default_rng(1).normal(size=p.H.shape)))
    obj = objective_for("ce")
    A = jax.jit(lambda p: dense_hessian(obj, p, data, hp))(p)
    v = _collapsed_point(3, [2, 2, 2], 4, 7)
    Hv = jax.jit(lambda p, v: hvp(obj, p, data, hp, v))(p, v)
    flat = lambda t: jnp.concatenate([t.W.ravel(), t.H.ravel(), t.b.ravel()])
    # Two AD routes to the same numbers (rounding ~1e-16 · ‖A‖ · P).
    np.testing.assert_allclose(A @ flat(v), flat(Hv), atol=1e-12)
    # And the Hessian of a quadratic form is its matrix: check against the reverse-over-reverse route.
    B = jax.hessian(lambda x: obj(Params(x[:12].reshape(3, 4), x[12:36].reshape(4, 6), x[36:]), data, hp))(flat(p))
    np.testing.assert_allclose(A, B, atol=1e-12)


@pytest.mark.parametrize(
    "K,n,d,lw,lh,S",
    [(4, 3, 5, 1e-2, 1e-2, (0, 2)), (4, 3, 5, 1e-2, 1e-2, ()), (3, 2, 2, 5e-3, 2e-2, (1,)), (5, 2, 3, 1e-3, 4e-3, (0, 3))],
)
@pytest.mark.slow
def test_predicted_saddle_min_eig_equals_dense(K, n, d, lw, lh, S):
    cp = nobias_critical_point(K, n, d, lw, lh, S)
    pr = Problem(K=K, n=n, d=d, lambda_W=lw, lambda_H=lh, bias=False)
    data, hp = pr.data(), pr.hparams()
    ev = _dense_values(objective_for("mse"), _params(cp.W, cp.H, cp.b), data, hp)
    assert ev.size == K * d + d * K * n  # b is not a coordinate of the no-bias problem
    assert abs(ev[0] - cp.predicted_min_eig) < TOL
    # the structured route agrees too
    cols = _cols_jit(objective_for("mse"), _params(cp.W, cp.H, cp.b), data, hp, method="structured")
    assert abs(float(cols["min_eig"]) - cp.predicted_min_eig) < TOL


@pytest.mark.parametrize(
    "loss,bias,sizes",
    [("mse", True, None), ("mse", False, None), ("rescaled_mse", True, None), ("ce", True, None),
     ("ce", False, None), ("mse", True, (1, 3, 2)), ("rescaled_mse", True, (2, 4, 1)), ("ce", True, (3, 1, 2))],
)
@pytest.mark.slow
def test_structured_equals_dense(loss, bias, sizes):
    K, n, d = 3, 3, 4
    pr = Problem(K=K, n=n, d=d, lambda_W=1e-2, lambda_H=2e-2, lambda_b=5e-3, bias=bias, loss=loss, alpha=2.5, M=1.7,
                 class_sizes=sizes)
    data, hp = pr.data(), pr.hparams()
    obj = objective_for(loss)
    p = _collapsed_point(K, sizes or [n] * K, d, 3, bias)
    dv = _dense_values(obj, p, data, hp)
    s = _struct_jit(obj, p, data, hp)
    sv = expand(s.values, s.multiplicities)
    assert sv.shape == dv.shape == (K * d + d * pr.N + K * bias,)
    np.testing.assert_allclose(sv, dv, atol=TOL, rtol=0)


@pytest.mark.slow
def test_structured_equals_dense_at_global_minimum():
    K, n, d = 4, 3, 6
    W, H, b = mse_global_minimizer(K, n, d, 5e-3, 1e-2, 1e-1)
    pr = Problem(K=K, n=n, d=d, lambda_W=5e-3, lambda_H=1e-2, lambda_b=1e-1)
    data, hp = pr.data(), pr.hparams()
    obj = objective_for("mse")
    p = _params(W, H, b)
    dv = _dense_values(obj, p, data, hp)
    s = _struct_jit(obj, p, data, hp)
    np.testing.assert_allclose(expand(s.values, s.multiplicities), dv, atol=TOL, rtol=0)
    assert dv[0] > -TOL  # a minimum: no negative eigenvalue


def _pad_params(p, Kp, Np, dp, sizes):
    K, d = p.W.shape
    W = jnp.zeros((Kp, dp)).at[:K, :d].set(p.W)
    H = jnp.zeros((dp, Np)).at[:d, : sum(sizes)].set(p.H)
    b = jnp.zeros(Kp).at[:K].set(p.b)
    return Params(W, H, b)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "structured", "dense", "lanczos"])
def test_padding_creates_no_spurious_eigenvalues(method):
    """Padded coordinates have an exactly zero Hessian row (the objective masks them): counted,
    they would turn a positive min_eig into 0. Checked at a saddle (min < 0), at the origin of the
    zero regime (min > 0, where padding would show) and at a non-collapsed point, bias and no-bias."""
    obj = objective_for("mse")
    K, n, d = 3, 2, 2
    pad = (5, 11, 4)
    cases = []
    cp = nobias_critical_point(K, n, d, 1e-2, 1e-2, (1,))
    cases.append((False, make_hparams(1e-2, 1e-2, 1e-2), _params(cp.W, cp.H, cp.b)))
    cases.append((True, make_hparams(0.5, 0.5, 0.2), _params(np.zeros((K, d)), np.zeros((d, K * n)), np.zeros(K))))
    rng = np.random.default_rng(5)
    cases.append((True, make_hparams(1e-2, 2e-2, 1e-2), _params(rng.normal(size=(K, d)), rng.normal(size=(d, K * n)), rng.normal(size=K))))
    for bias, hp, p in cases:
        data = make_data(K, n, d, bias=bias)
        datap = make_data(K, n, d, bias=bias, pad_to=pad)
        pp = _pad_params(p, *pad, [n] * K)
        a, b = _cols_jit(obj, p, data, hp, method=method), _cols_jit(obj, pp, datap, hp, method=method)
        ref = _dense_values(obj, p, data, hp)
        if method == "structured" and float(jnp.max(jnp.abs(p.H - p.H[:, ::n].repeat(n, axis=1)))) > 0:
            ref = None  # structured at a non-collapsed point is the spectrum of its projection
        assert abs(float(a["min_eig"]) - float(b["min_eig"])) < TOL
        assert int(a["index"]) == int(b["index"])
        assert int(a["hessian_method"]) == int(b["hessian_method"])
        if ref is not None:
            assert abs(float(a["min_eig"]) - ref[0]) < TOL
            big = np.max(np.abs(ref))
            assert int(a["index"]) == int(np.sum(ref < -1e-10 * big))
    # the zero-regime origin is a strict minimum: min_eig > 0 survives padding
    data = make_data(K, n, d, pad_to=pad)
    out = _cols_jit(obj, _pad_params(cases[1][2], *pad, [n] * K), data, cases[1][1], method=method)
    assert float(out["min_eig"]) > 0.1


@pytest.mark.slow
def test_auto_method_choice_and_codes():
    obj = objective_for("mse")
    pr = Problem(K=3, n=2, d=3, lambda_W=1e-2, lambda_H=1e-2)
    data, hp = pr.data(), pr.hparams()
    p = _collapsed_point(3, [2, 2, 2], 3, 0)
    q = p._replace(H=p.H.at[0, 0].add(0.1))
    f = lambda p: _cols_jit(obj, p, data, hp)
    assert HESSIAN_METHODS[int(f(p)["hessian_method"])] == "structured"
    assert HESSIAN_METHODS[int(f(q)["hessian_method"])] == "dense"
    g = lambda p: _cols_jit(obj, p, data, hp, dense_max=10, lanczos_steps=48)
    assert HESSIAN_METHODS[int(g(q)["hessian_method"])] == "lanczos"
    # Lanczos at full depth (48 > P = 33) is exact
    assert abs(float(g(q)["min_eig"]) - _dense_values(obj, q, data, hp)[0]) < TOL


@pytest.mark.slow
def test_sweep_columns_vmaps_and_compiles_once():
    obj = objective_for("mse")
    K, n, d = 3, 2, 3
    data = make_data(K, n, d)
    traces = []

    def one(lw, seed):
        traces.append(1)
        hp = make_hparams(lw, 1e-2, 1e-2)
        from nclandscape.ufm import init_params

        p = init_params(jax.random.PRNGKey(seed), data, scale=0.5)
        p = p._replace(H=jnp.where(seed % 2 == 0, jnp.repeat(p.H[:, ::n], n, axis=1), p.H))  # half collapsed
        return sweep_columns(obj, p, data, hp)

    f = jax.jit(jax.vmap(one))
    lws = jnp.asarray([1e-3, 1e-2, 3e-2, 1e-1])
    seeds = jnp.arange(4)
    out = f(lws, seeds)
    out2 = f(lws * 2, seeds)
    assert len(traces) == 1  # one trace for both calls
    assert out2["min_eig"].shape == (4,)
    np.testing.assert_array_equal(np.asarray(out["hessian_method"]), [0, 1, 0, 1])
    one_jit = jax.jit(one)
    ref_all = [one_jit(lws[i], seeds[i]) for i in range(4)]
    for i, ref in enumerate(ref_all):
        assert abs(float(ref["min_eig"]) - float(out["min_eig"][i])) < TOL
        assert int(ref["index"]) == int(out["index"][i])


@pytest.mark.slow
def test_float32_stays_float32():
    obj = objective_for("ce")
    pr = Problem(K=3, n=2, d=3, loss="ce")
    data, hp = pr.data(dtype=jnp.float32), pr.hparams(dtype=jnp.float32)
    p = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), _collapsed_point(3, [2, 2, 2], 3, 1))
    for m in ("auto", "lanczos"):
        out = _cols_jit(obj, p, data, hp, method=m)
        assert out["min_eig"].dtype == jnp.float32
    s = _dense_jit(obj, p, data, hp)
    assert s.values.dtype == jnp.float32
    s64 = _dense_jit(obj, jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p), pr.data(), pr.hparams())
    # float32 eigenvalues of a O(1) matrix: rounding ~1e-7 · ‖A‖ · √P
    np.testing.assert_allclose(np.asarray(s.values)[np.asarray(s.valid)], np.asarray(s64.values)[np.asarray(s64.valid)], atol=1e-5)
