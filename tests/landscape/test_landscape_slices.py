"""Slices of the full UFM objective (nclandscape.landscape.slices).

Exact facts used: the MSE objective is a polynomial of degree 4 along any line (W H is bilinear),
so a degree-4 fit through the slice recovers f(x0), the directional derivative and the curvature
d^T ∇²f d exactly (up to rounding); the closed-form minimisers give f* (THEORY.md §2, §2b); the
no-bias critical points give the smallest Hessian eigenvalue of THEORY.md §3.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from nclandscape.errors import ConfigError
from nclandscape.landscape import directions_for, hessian_eig, point_for, random_direction, slice_1d, slice_2d
from nclandscape.objectives import objective_for
from nclandscape.ufm import Params, Problem

T = np.linspace(-1.0, 1.0, 9)


def setup(**kw):
    p = Problem(**{"K": 4, "n": 2, "d": 5, "lambda_W": 5e-3, "lambda_H": 1e-2, "lambda_b": 1e-2, **kw})
    return p, p.data(), p.hparams(), objective_for(p.loss)


def line_values(objective, x0, data, hp, d, ts):
    return np.asarray(jax.jit(lambda x0, d, t: slice_1d(objective, x0, data, hp, d, t))(x0, d, jnp.asarray(ts)))


def quartic(ts, vals):
    """Coefficients c0..c4 of the exact degree-4 polynomial through the slice (least squares on
    9 points in [-1, 1]: Vandermonde condition number ~1e2, so rounding stays ~1e-13)."""
    return np.polynomial.polynomial.polyfit(ts, vals, 4)


def curvature(objective, x0, data, hp, d):
    """dᵀ∇²f d by forward-over-reverse autodiff (independent of the slice and of eigh)."""
    f = lambda p: objective(p, data, hp)
    g = lambda p: jax.jvp(f, (p,), (d,))[1]
    return float(jax.jvp(g, (x0,), (d,))[1])


@pytest.mark.slow
def test_global_random_slice_equals_direct_evaluation_and_is_above_fstar():
    p, data, hp, objective = setup()
    x0, info = point_for(p, "global")
    f0 = float(objective(x0, data, hp))
    assert abs(f0 - info["f_star"]) < 1e-13  # closed-form minimiser vs closed-form minimum (rounding)
    (d,), _ = directions_for("random", objective, x0, data, hp, dims=1, key=jax.random.PRNGKey(3))
    vals = line_values(objective, x0, data, hp, d, T)
    for t, v in zip(T, vals):
        direct = float(objective(jax.tree_util.tree_map(lambda a, b: a + t * b, x0, d), data, hp))
        assert abs(v - direct) < 1e-13  # same arithmetic, vmapped vs not
    assert np.all(vals >= f0 - 1e-13)  # a global minimum
    c = quartic(T, vals)
    assert abs(c[0] - f0) < 1e-12 and abs(c[1]) < 1e-11  # critical point: no linear term
    assert abs(2 * c[2] - curvature(objective, x0, data, hp, d)) < 1e-10


def test_filter_normalisation():
    p, data, hp, objective = setup()
    x0, _ = point_for(p, "global")
    d = random_direction(jax.random.PRNGKey(1), x0, data, norm="filter")
    np.testing.assert_allclose(np.linalg.norm(d.W, axis=1), np.linalg.norm(x0.W, axis=1), rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(d.H, axis=0), np.linalg.norm(x0.H, axis=0), rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(d.b), np.linalg.norm(x0.b), rtol=1e-13)
    u = random_direction(jax.random.PRNGKey(1), x0, data, norm="unit")
    assert abs(np.linalg.norm(ravel_pytree(u)[0]) - 1.0) < 1e-14
    # No bias: the bias part of the direction is masked out.
    p2, data2, _, _ = setup(bias=False)
    x2, _ = point_for(p2, "global")
    assert np.all(np.asarray(random_direction(jax.random.PRNGKey(1), x2, data2, norm="unit").b) == 0)


@pytest.mark.parametrize("kind", ["hessian-top", "hessian-bottom"])
def test_hessian_direction_slices(kind):
    p, data, hp, objective = setup()
    x0, _ = point_for(p, "global")
    ds, info = directions_for(kind, objective, x0, data, hp, dims=2)
    for d, lam in zip(ds, info["eigenvalues"]):
        assert abs(np.linalg.norm(ravel_pytree(d)[0]) - 1.0) < 1e-12
        c = quartic(T, line_values(objective, x0, data, hp, d, T))
        # eigh of a 50×50 float64 matrix: eigenvalue error ~1e-15·‖H‖; the fit adds ~1e-12.
        assert abs(2 * c[2] - lam) < 1e-10
        assert abs(curvature(objective, x0, data, hp, d) - lam) < 1e-12
    assert info["eigenvalues"][0] >= -1e-12  # at a minimum every eigenvalue is >= 0
    if kind == "hessian-top":
        assert info["eigenvalues"][0] == info["hessian_max"]


@pytest.mark.parametrize("S", [(0,), (0, 1), ()])
def test_saddle_negative_curvature(S):
    p, data, hp, objective = setup(bias=False, lambda_W=1e-2)
    x0, info = point_for(p, "saddle:" + ",".join(map(str, S)))
    eig = hessian_eig(objective, x0, data, hp)
    assert eig.values.size == p.K * p.d + p.d * p.K * p.n  # the disabled bias is not a coordinate
    assert abs(eig.values[0] - info["predicted_min_eig"]) < 1e-12  # THEORY.md §3 vs dense eigh
    assert abs(float(objective(x0, data, hp)) - info["f_critical"]) < 1e-13
    (v, top), dinfo = directions_for("negative-curvature", objective, x0, data, hp, dims=2)
    vals = line_values(objective, x0, data, hp, v, T)
    f0 = float(objective(x0, data, hp))
    c = quartic(T, vals)
    assert abs(c[1]) < 1e-11 and abs(2 * c[2] - info["predicted_min_eig"]) < 1e-10
    assert vals[3] < f0 and vals[5] < f0  # the objective decreases along the direction (t = ±0.25)
    # 2-D: the t2 = 0 column is the 1-D slice, the t1 = 0 row the slice along the top eigenvector.
    V = np.asarray(jax.jit(lambda a, b: slice_2d(objective, x0, data, hp, a, b, jnp.asarray(T), jnp.asarray(T)))(v, top))
    np.testing.assert_allclose(V[:, 4], vals, rtol=0, atol=1e-14)
    np.testing.assert_allclose(V[4, :], line_values(objective, x0, data, hp, top, T), rtol=0, atol=1e-14)
    direct = float(objective(jax.tree_util.tree_map(lambda a, b, c: a + T[1] * b + T[7] * c, x0, v, top), data, hp))
    assert abs(V[1, 7] - direct) < 1e-14


@pytest.mark.slow
def test_ce_global_and_solve_points():
    p, data, hp, objective = setup(loss="ce", lambda_W=1e-3, lambda_H=1e-3, lambda_b=1e-3)
    x0, info = point_for(p, "global")
    assert abs(float(objective(x0, data, hp)) - info["f_star"]) < 1e-12
    (d,), _ = directions_for("random", objective, x0, data, hp, dims=1, key=jax.random.PRNGKey(0))
    assert np.all(line_values(objective, x0, data, hp, d, T) >= info["f_star"] - 1e-12)
    # --at solve on vanilla MSE reaches the closed-form minimum.
    pm, dm, hm, om = setup()
    xs, si = point_for(pm, "solve", steps=3000)
    assert si["solve_status"] == "ok"
    xg, gi = point_for(pm, "global")
    assert abs(float(om(xs, dm, hm)) - gi["f_star"]) < 1e-12  # tol 1e-10 on ‖∇f‖ ⇒ gap ≲ 1e-20/μ


def test_errors():
    p, data, hp, objective = setup()
    x0, _ = point_for(p, "global")
    with pytest.raises(ConfigError):  # a minimum has no negative curvature
        directions_for("negative-curvature", objective, x0, data, hp)
    zero = Params(jnp.zeros_like(x0.W), jnp.zeros_like(x0.H), jnp.zeros_like(x0.b))
    with pytest.raises(ConfigError):  # every filter zero: filter normalisation gives nothing
        directions_for("random", objective, zero, data, hp)
    with pytest.raises(ConfigError):
        directions_for("sideways", objective, x0, data, hp)
    with pytest.raises(ConfigError):
        point_for(p, "saddle:0")  # needs --no-bias
    with pytest.raises(ConfigError):
        point_for(Problem(K=4, n=2, d=5, loss="rescaled_mse", alpha=2.0), "global")
    with pytest.raises(ConfigError):
        point_for(p, "elsewhere")
    with pytest.raises(ConfigError):
        point_for(Problem(K=4, n=2, d=5, bias=False), "saddle:0,x")


def test_degenerate_eigenspace_basis_is_canonical():
    """Within a repeated eigenvalue LAPACK's basis is arbitrary (it differs between machines): the
    basis hessian_eig uses depends only on the eigenspace. Any rotation of the input basis inside
    the 3-fold eigenspace gives the same vectors to 1e-12, and they are still eigenvectors."""
    from nclandscape.landscape.slices import _canonical_eigenspaces

    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag([-1.0, -1.0, -1.0, 0.5, 2.0, 3.0]) @ Q.T
    vals, vecs = np.linalg.eigh(A)
    R, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    rotated = vecs.copy()
    rotated[:, :3] = vecs[:, :3] @ R
    a = _canonical_eigenspaces(vals, vecs, tol=1e-12)
    b = _canonical_eigenspaces(vals, rotated, tol=1e-12)
    assert np.max(np.abs(a[:, :3] - b[:, :3])) <= 1e-12
    assert np.max(np.abs(vecs[:, :3] - b[:, :3])) > 1e-3  # the input bases really differed
    np.testing.assert_allclose(A @ a, a * vals[None, :], atol=1e-12)
    np.testing.assert_allclose(a.T @ a, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(a[:, 3:], vecs[:, 3:])  # simple eigenvalues untouched
