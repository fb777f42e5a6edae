"""1-D and 2-D slices of the full UFM objective ``f(params + t_1 d_1 + t_2 d_2)``.

Directions:

* random, filter-normalised (Li et al., *Visualizing the Loss Landscape of Neural Nets*, 2018):
  a Gaussian direction whose every "filter" (a row ``w^k`` of ``W``, a feature column ``h_i`` of
  ``H``, and the bias ``b`` as one filter) is rescaled to the norm of the same filter of the point;
  filters that are zero at the point get a zero direction. ``norm="unit"`` gives a plain unit
  direction instead (needed at the zero solution, where every filter is zero);
* eigenvectors of the dense Hessian (:func:`~nclandscape.hessian.dense.dense_hessian` + ``eigh``)
  for problems of at most :data:`~nclandscape.hessian.dense.DENSE_MAX` parameters: top, bottom,
  and the negative-curvature direction through a saddle. The Hessian is restricted to the
  coordinates the problem really has (padding and a disabled bias are removed), so a masked
  coordinate never shows up as a spurious zero eigenvalue.

The points a slice goes through are those of :mod:`nclandscape.points` (``--at``).
Every function works on one problem and is jittable; the grid is vmapped.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from nclandscape import points as _points
from nclandscape.errors import ConfigError
from nclandscape.hessian import dense as _dense
from nclandscape.ufm import HParams, Params, UFMData, mask_params, tree_norm

DIRECTIONS = ("random", "hessian-top", "hessian-bottom", "negative-curvature")
parse_at = _points.parse_at  # the one parser of --at (formerly defined here)


class HessianEig(NamedTuple):
    values: np.ndarray  # (P_active,) ascending
    vectors: np.ndarray  # (P, P_active) columns: unit eigenvectors in the full flattened space


def _line(objective, params: Params, data: UFMData, hparams: HParams):
    def f(p):
        return objective(p, data, hparams)

    return f


def slice_1d(objective, params: Params, data: UFMData, hparams: HParams, direction: Params, ts):
    """``f(params + t d)`` for every ``t`` in ``ts`` (vmapped); shape ``ts.shape``."""
    f = _line(objective, params, data, hparams)

    def at(t):
        return f(jax.tree_util.tree_map(lambda p, d: p + t * d, params, direction))

    return jax.vmap(at)(jnp.asarray(ts))


def slice_2d(objective, params: Params, data: UFMData, hparams: HParams, d1: Params, d2: Params, t1, t2):
    """``f(params + a d1 + b d2)`` on the grid ``t1 × t2``; result ``[i, j]`` at ``(t1[i], t2[j])``."""
    f = _line(objective, params, data, hparams)

    def at(a, b):
        return f(jax.tree_util.tree_map(lambda p, x, y: p + a * x + b * y, params, d1, d2))

    t1, t2 = jnp.asarray(t1), jnp.asarray(t2)
    return jax.vmap(lambda a: jax.vmap(lambda b: at(a, b))(t2))(t1)


def active_mask(params: Params, data: UFMData) -> np.ndarray:
    """Boolean mask of the flattened coordinates the problem really has."""
    return np.asarray(_dense.flat_mask(data)) != 0


_dense_hessian = jax.jit(_dense.dense_hessian, static_argnums=0)  # compiled once per objective and shape


def hessian_eig(objective, params: Params, data: UFMData, hparams: HParams) -> HessianEig:
    """Eigen-decomposition (ascending) of the Hessian restricted to the active coordinates.

    Eigenvectors are embedded back in the full flattened space (zero on masked coordinates) and
    their sign is fixed so that their largest-magnitude entry is positive. Within an eigenvalue of
    multiplicity m (eigenvalues equal to 1e3·eps·‖∇²f‖) LAPACK's basis is arbitrary and differs
    between machines; it is replaced by a canonical one (:func:`_canonical_eigenspaces`), so that
    slices through a degenerate direction are reproducible.
    """
    _dense.check_dense_size(int(ravel_pytree(params)[0].size), what="a Hessian direction",
                            fix="use --directions random or lower --K, --n or --d")
    Hm = np.asarray(_dense_hessian(objective, params, data, hparams), np.float64)
    act = active_mask(params, data)
    idx = np.flatnonzero(act)
    sub = Hm[np.ix_(idx, idx)]
    vals, vecs = np.linalg.eigh(0.5 * (sub + sub.T))
    vecs = _canonical_eigenspaces(vals, vecs, tol=1e3 * np.finfo(np.float64).eps * max(np.max(np.abs(vals)), 1e-300))
    big = np.argmax(np.abs(vecs), axis=0)
    vecs = vecs * np.sign(vecs[big, np.arange(vecs.shape[1])])[None, :]
    full = np.zeros((Hm.shape[0], vecs.shape[1]))
    full[idx] = vecs
    return HessianEig(vals, full)


def _canonical_eigenspaces(vals, vecs, *, tol):
    """A basis of every cluster of equal eigenvalues (consecutive gaps ≤ ``tol``) that depends only
    on the eigenspace: QR of its projector applied to a fixed generic matrix (positive R diagonal)."""
    vecs = vecs.copy()
    n = vals.size
    start = 0
    generic = np.random.default_rng(12345).standard_normal((vecs.shape[0], n))
    while start < n:
        stop = start + 1
        while stop < n and vals[stop] - vals[stop - 1] <= tol:
            stop += 1
        if stop - start > 1:
            V = vecs[:, start:stop]
            Q, R = np.linalg.qr(V @ (V.T @ generic[:, start:stop]))
            vecs[:, start:stop] = Q * np.sign(np.diag(R))[None, :]
        start = stop
    return vecs


def unflatten_like(params: Params, flat) -> Params:
    _, unravel = ravel_pytree(params)
    x0, _ = ravel_pytree(params)
    return unravel(jnp.asarray(flat, x0.dtype))


def _filter_norms(p: Params):
    """Norm of every filter, broadcast to each filter's shape: rows of W, columns of H, b whole."""
    return Params(
        W=jnp.linalg.norm(p.W, axis=1, keepdims=True),
        H=jnp.linalg.norm(p.H, axis=0, keepdims=True),
        b=jnp.linalg.norm(p.b) * jnp.ones_like(p.b),
    )


def random_direction(key, params: Params, data: UFMData, *, norm: str = "filter") -> Params:
    """A Gaussian direction, filter-normalised (``norm="filter"``) or of unit norm (``"unit"``)."""
    if norm not in ("filter", "unit"):
        raise ConfigError(f"norm={norm!r} is not allowed: choose filter or unit")
    x0, unravel = ravel_pytree(params)
    d = mask_params(unravel(jax.random.normal(key, x0.shape, x0.dtype)), data)
    if norm == "unit":
        flat, _ = ravel_pytree(d)
        return jax.tree_util.tree_map(lambda a: a / jnp.linalg.norm(flat), d)
    pn, dn = _filter_norms(mask_params(params, data)), _filter_norms(d)
    tiny = jnp.finfo(x0.dtype).tiny
    return jax.tree_util.tree_map(lambda a, n_p, n_d: a * n_p / jnp.maximum(n_d, tiny), d, pn, dn)


def directions_for(kind: str, objective, params: Params, data: UFMData, hparams: HParams, *, dims: int = 1,
                   key=None, norm: str = "filter"):
    """``(list of dims directions, info dict)`` of a direction kind (see :data:`DIRECTIONS`).

    ``negative-curvature``: the eigenvector of the most negative Hessian eigenvalue, and for
    ``dims = 2`` the eigenvector of the largest one (the classic saddle picture); raises
    ConfigError when the point has no negative curvature beyond rounding (1e3·eps·‖∇²f‖).
    """
    if kind not in DIRECTIONS:
        raise ConfigError(f"--directions {kind!r} is not allowed: choose one of {', '.join(DIRECTIONS)}")
    if dims not in (1, 2):
        raise ConfigError(f"--dims {dims!r}: give 1 or 2")
    if kind == "random":
        key = jax.random.PRNGKey(0) if key is None else key
        ds = [random_direction(k, params, data, norm=norm) for k in jax.random.split(key, dims)]
        if any(float(tree_norm(d)) == 0 for d in ds):
            raise ConfigError("every filter of the point is zero, so the filter-normalised direction is zero: use --norm unit")
        return ds, {"norm": norm}
    eig = hessian_eig(objective, params, data, hparams)
    n = eig.values.size
    if kind == "hessian-top":
        cols = [n - 1 - i for i in range(dims)]
    elif kind == "hessian-bottom":
        cols = list(range(dims))
    else:
        x0, _ = ravel_pytree(params)
        # eigh and the autodiff Hessian are accurate to a small multiple of eps·‖∇²f‖: anything
        # above −1e3·eps·‖∇²f‖ is not distinguishable from a zero (flat) direction.
        tol = 1e3 * float(jnp.finfo(x0.dtype).eps) * float(np.max(np.abs(eig.values)))
        if eig.values[0] >= -tol:
            raise ConfigError(
                f"the point has no negative curvature (smallest Hessian eigenvalue {eig.values[0]:.3e}); "
                "negative-curvature needs a strict saddle (e.g. --at saddle:0)"
            )
        cols = [0, n - 1][:dims]
    ds = [unflatten_like(params, eig.vectors[:, c]) for c in cols]
    return ds, {"eigenvalues": [float(eig.values[c]) for c in cols], "hessian_min": float(eig.values[0]),
                "hessian_max": float(eig.values[-1])}


def point_for(problem, at: str, **kwargs):
    """``(Params, info)`` of :func:`nclandscape.points.point_at` (same arguments and defaults):
    the point a slice goes through."""
    pt = _points.point_at(problem, at, **kwargs)
    return pt.params, pt.info
