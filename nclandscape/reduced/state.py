"""Reduced state of the MSE-family UFM (THEORY.md §4): types, reduction, reconstruction, sampling.

Write every class-k feature as ``h_{k,i} = h̄_k + x_{k,i}`` with ``Σ_i x_{k,i} = 0``. The map

    (G, D)  ->  H = Σ_k G_k / √n_k ⊗ 1_{n_k}^T  +  D Z

(``G`` the class means scaled by √n_k, ``Z`` fixed ``r × N`` rows orthonormal and orthogonal to the
class indicators) is a linear *isometry* onto the subspace where full-batch MSE dynamics live:
the H-gradient's deviation part is ``(Wᵀ Ω_k W / N + λ_H I) x_{k,i}``, a d×d map applied to every
deviation of class k. Any optimiser built from linear combinations of gradients and inner products
(GD, heavy-ball, Nesterov, L-BFGS with its line search) therefore runs unchanged on the small pytree
``ReducedParams(W, b, G, D)`` and reproduces the full trajectory exactly.

Two layouts, chosen from the shape of ``D`` (static):
- ``shared`` ``D (d, r)``: one map for every class, exact when ``α = 1`` (vanilla MSE, any target M);
- ``per_class`` ``D (K, d, r)``: one map per class, exact for rescaled MSE (``Ω_k`` depends on k).
``r = d`` (the padded feature dimension); columns beyond the rank of the deviations are zero and
stay zero.

Nothing here has a sample axis except :class:`ReducedBasis`, which is only needed to reconstruct
per-sample features (NC4, cosine margins). ``ReducedData`` pads in K and d like ``UFMData``.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.objectives import DEFAULT_LOSS, LOSSES
from nclandscape.optimizers import OPTIMIZERS, optimizer_spec
from nclandscape.ufm import Params, UFMData, _normal_grid, class_sizes_of, mask_params

# Views of the registries: the optimisers and losses the reduced dynamics reproduce exactly.
REDUCIBLE_OPTIMIZERS = tuple(name for name, spec in OPTIMIZERS.items() if spec.reducible)
PER_CLASS = "per_class"  # the reduced layout of a loss whose per-class curvature differs (Loss.reduced_layout)


def reducible_losses() -> tuple[str, ...]:
    return tuple(name for name, entry in LOSSES.items() if entry.reduced_layout)


class ReducedParams(NamedTuple):
    W: jax.Array  # (K, d) classifier, as in Params
    b: jax.Array  # (K,)
    G: jax.Array  # (d, K) class means times √n_k (as hessian.structured.Collapsed.G)
    D: jax.Array  # (d, r) shared or (K, d, r) per class: deviations are D Z (D_k Z_k)


class ReducedData(NamedTuple):
    """Everything the reduced objective and metrics need; no sample axis (Y-free)."""

    sizes: jax.Array  # (K,) samples per class n_k, 0 for padded classes
    class_mask: jax.Array  # (K,)
    dim_mask: jax.Array  # (d,)
    bias: jax.Array  # () 1.0 with bias, 0.0 without
    class_gram: jax.Array  # (K, r, r) Γ_k = Z_k Z_kᵀ: class-k deviations have Gram D Γ_k Dᵀ


class ReducedBasis(NamedTuple):
    """The fixed per-sample coordinates, kept only to reconstruct per-sample features."""

    Z: jax.Array  # (r, N); per-class layout: column i holds Z_{label(i)}[:, i]
    Y: jax.Array  # (K, N) one-hot targets (zero columns for padded samples)
    sample_mask: jax.Array  # (N,)


def reducible(loss: str, optimizer: str, *, full_batch: bool = True) -> tuple[bool, str]:
    """Whether the class-reduced dynamics are exact for this loss and optimiser, and why not
    (the registries' ``reduced_layout`` / ``reducible`` flags and their reasons)."""
    entry = LOSSES.get(loss) if isinstance(loss, str) else None
    if entry is not None and entry.reduced_layout is None and entry.not_reducible:
        return False, entry.not_reducible
    if entry is None or entry.reduced_layout is None:
        return False, f"loss={loss!r} is not reducible: reduced dynamics cover {', '.join(reducible_losses())}"
    try:
        spec = optimizer_spec(optimizer)
    except ConfigError:
        spec = None
    if spec is not None and not spec.reducible and spec.not_reducible:
        return False, spec.not_reducible
    if spec is None or not spec.reducible:
        return False, f"optimizer={optimizer!r} is not reducible: reduced dynamics cover {', '.join(REDUCIBLE_OPTIMIZERS)}"
    if not full_batch:
        return False, ("minibatch SGD is not reducible: a minibatch gradient moves the sampled deviations and "
                       "leaves the others, so they no longer move by one shared linear map")
    return True, ""


def check_reducible(loss: str, optimizer: str, *, full_batch: bool = True) -> None:
    ok, why = reducible(loss, optimizer, full_batch=full_batch)
    if not ok:
        raise ConfigError(f"--dynamics reduced is not exact here: {why}")


DYNAMICS = ("auto", "full", "reduced")


def resolve_dynamics(dynamics: str, loss: str, optimizer: str, *, full_batch: bool = True) -> str:
    """``--dynamics auto|full|reduced`` -> the engine that runs (``"full"`` or ``"reduced"``).

    ``auto`` picks ``reduced`` wherever it is exact; ``reduced`` where it is not raises a
    ConfigError that says why.
    """
    if dynamics not in DYNAMICS:
        raise ConfigError(f"--dynamics {dynamics!r} is not allowed: choose one of {', '.join(DYNAMICS)}")
    if dynamics == "full":
        return "full"
    ok, _ = reducible(loss, optimizer, full_batch=full_batch)
    if dynamics == "reduced":
        check_reducible(loss, optimizer, full_batch=full_batch)
    return "reduced" if ok else "full"


def layout_for(loss: str) -> str:
    """The reduced layout of a loss (its registry entry's ``reduced_layout``): ``shared`` for
    vanilla MSE, ``per_class`` for rescaled MSE."""
    entry = LOSSES.get(loss) if isinstance(loss, str) else None
    if entry is None or entry.reduced_layout is None:
        raise ConfigError(reducible(loss, REDUCIBLE_OPTIMIZERS[0])[1])
    return entry.reduced_layout


def is_per_class(rparams: ReducedParams) -> bool:
    return rparams.D.ndim == 3


def mask_reduced(rparams: ReducedParams, rdata: ReducedData) -> ReducedParams:
    """Zero every padded entry (and ``b`` without bias); the reduced twin of ``mask_params``."""
    cm, dm = rdata.class_mask, rdata.dim_mask
    D = rparams.D * dm[:, None] if rparams.D.ndim == 2 else rparams.D * cm[:, None, None] * dm[None, :, None]
    return ReducedParams(
        W=rparams.W * cm[:, None] * dm[None, :],
        b=rparams.b * cm * rdata.bias,
        G=rparams.G * dm[:, None] * cm[None, :],
        D=D,
    )


def _weighted_labels(data: UFMData):
    Yw = data.Y * data.sample_mask[None, :] * data.class_mask[:, None]
    return Yw, Yw.sum(axis=1)


def reduce_data(data: UFMData, basis: ReducedBasis | None = None) -> ReducedData:
    """The Y-free data of a full problem. ``class_gram`` comes from ``basis``; without one it is
    NaN (unknown), which makes only the numerical rank NaN: nothing else reads it."""
    _, sizes = _weighted_labels(data)
    K, d = data.class_mask.shape[0], data.dim_mask.shape[0]
    if basis is None:
        gram = jnp.full((K, d, d), jnp.nan, data.Y.dtype)
    else:
        gram = _class_gram(basis)
    return ReducedData(sizes, data.class_mask, data.dim_mask, data.bias, gram)


def make_reduced_data(K: int, n: int, d: int, *, bias: bool = True, class_sizes: Sequence[int] | None = None,
                      pad_to: tuple[int, int] | None = None, dtype=None) -> ReducedData:
    """Reduced data straight from sizes (never builds the K×N targets), padded to ``(K_max, d_max)``.

    ``class_gram`` is NaN (unknown): :func:`reduced_init` returns the data with it filled in.
    """
    dtype = dtype or jnp.zeros(()).dtype
    sizes = class_sizes_of(K, n, class_sizes)
    Kp, dp = pad_to or (K, d)
    if Kp < K or dp < d:
        raise ConfigError(f"pad_to={pad_to} is smaller than the problem (K={K}, d={d})")
    cm = np.arange(Kp) < K
    gram = np.full((Kp, dp, dp), np.nan)
    return ReducedData(
        sizes=jnp.asarray(np.pad(np.asarray(sizes, float), (0, Kp - K)), dtype),
        class_mask=jnp.asarray(cm, dtype),
        dim_mask=jnp.asarray(np.arange(dp) < d, dtype),
        bias=jnp.asarray(1.0 if bias else 0.0, dtype),
        class_gram=jnp.asarray(gram, dtype),
    )


def balanced_reduced_data(K, n, d, bias, *, K_max: int, d_max: int, dtype=None) -> ReducedData:
    """:func:`make_reduced_data` of a balanced problem from *traced* ``K, n, d, bias`` (inside a
    sweep program), padded to the static ``(K_max, d_max)``. ``class_gram`` is NaN until
    :func:`reduced_init` fills it."""
    dtype = dtype or jnp.zeros(()).dtype
    K, d = jnp.asarray(K), jnp.asarray(d)
    cm = (jnp.arange(K_max, dtype=K.dtype) < K).astype(dtype)
    return ReducedData(
        sizes=cm * jnp.asarray(n, dtype),
        class_mask=cm,
        dim_mask=(jnp.arange(d_max, dtype=d.dtype) < d).astype(dtype),
        bias=jnp.asarray(bias, dtype),
        class_gram=jnp.full((K_max, d_max, d_max), jnp.nan, dtype),
    )


def reduced_data_of(problem, *, pad_to=None, dtype=None) -> ReducedData:
    """:func:`make_reduced_data` for a :class:`~nclandscape.ufm.Problem`."""
    return make_reduced_data(problem.K, problem.n, problem.d, bias=problem.bias, class_sizes=problem.class_sizes,
                             pad_to=pad_to, dtype=dtype)


def _factor(X, r: int):
    """``X (d, N) = D Z`` with ``D (d, r)`` and ``Z (r, N)`` of orthonormal rows (thin SVD).

    Directions whose singular value is at rounding level (``≤ s_max · max(d, N) · eps``) are
    dropped (zero column of D, zero row of Z): their SVD vectors are arbitrary, and the error is at
    rounding level of ``X`` itself.
    """
    d, N = X.shape
    P, s, Qt = jnp.linalg.svd(X.T, full_matrices=False)  # X.T = P diag(s) Qt
    m = s.shape[0]
    keep = s > s[0] * max(d, N) * jnp.finfo(X.dtype).eps
    s = jnp.where(keep, s, 0.0)
    D = Qt.T * s[None, :]
    Z = (P * keep[None, :].astype(P.dtype)).T
    if m < r:
        D = jnp.pad(D, ((0, 0), (0, r - m)))
        Z = jnp.pad(Z, ((0, r - m), (0, 0)))
    return D[:, :r], Z[:r]


def _class_gram(basis: ReducedBasis):
    Yw = basis.Y * basis.sample_mask[None, :]
    return jnp.einsum("rn,kn,sn->krs", basis.Z, Yw, basis.Z)


def reduce_params(params: Params, data: UFMData, *, loss: str = DEFAULT_LOSS) -> tuple[ReducedParams, ReducedBasis]:
    """The reduced coordinates of full parameters (exact: ``expand_params`` inverts it).

    Jittable; cost O(N d²) once. Use :func:`reduce_data` ``(data, basis)`` for the matching data.
    """
    per_class = layout_for(loss) == PER_CLASS
    p = mask_params(params, data)
    Yw, sizes = _weighted_labels(data)
    d = data.dim_mask.shape[0]
    means = (p.H @ Yw.T) / jnp.maximum(sizes, 1)[None, :]  # (d, K)
    X = (p.H - means @ Yw) * data.sample_mask[None, :]
    if per_class:
        # One class at a time (memory N·d, not K·N·d); class supports are disjoint, so each
        # sample's column of Z is kept from its own class's factor.
        def one_class(Z, y):
            Dk, Zk = _factor(X * y[None, :], d)
            return Z + Zk * y[None, :], Dk

        Z, D = jax.lax.scan(one_class, jnp.zeros((d, X.shape[1]), X.dtype), Yw)
    else:
        D, Z = _factor(X, d)
    rp = ReducedParams(W=p.W, b=p.b, G=means * jnp.sqrt(sizes)[None, :], D=D)
    return rp, ReducedBasis(Z=Z, Y=data.Y, sample_mask=data.sample_mask)


def expand_deviations(D, basis: ReducedBasis):
    """Per-sample within-class deviations ``(d, N)`` from the reduced ``D``."""
    Yw = basis.Y * basis.sample_mask[None, :]
    if D.ndim == 2:
        return D @ basis.Z

    def add_class(acc, k):  # one class at a time: memory d·N, not K·d·N
        return acc + (D[k] @ basis.Z) * Yw[k][None, :], None

    X0 = jnp.zeros((D.shape[1], basis.Z.shape[1]), D.dtype)
    return jax.lax.scan(add_class, X0, jnp.arange(D.shape[0]))[0]


def expand_params(rparams: ReducedParams, basis: ReducedBasis, data: UFMData | None = None) -> Params:
    """Exact reconstruction of the full parameters (features of every sample)."""
    Yw = basis.Y * basis.sample_mask[None, :]
    if data is not None:
        Yw = Yw * data.class_mask[:, None]
    sizes = Yw.sum(axis=1)
    means = rparams.G / jnp.sqrt(jnp.maximum(sizes, 1))[None, :]
    H = means @ Yw + expand_deviations(rparams.D, basis)
    p = Params(W=rparams.W, H=H, b=rparams.b)
    return p if data is None else mask_params(p, data)


def _wishart_factor(key, m, d_real, dp: int, dtype):
    """``L (dp, dp)`` with ``L Lᵀ ~ Wishart_d(m, I)`` on the real ``d × d`` block, zero elsewhere.

    ``m ≥ d``: Bartlett (lower triangular, ``L_ii² ~ χ²(m − i)``, ``L_ij ~ N(0,1)`` below the
    diagonal); ``m < d``: ``m`` Gaussian columns. Every entry depends only on (key, i, j), so the
    draw is padding-invariant like ``init_params``.
    """
    kn, kc = jax.random.split(key)
    G = _normal_grid(kn, dp, dp, dtype)
    i = jnp.arange(dp)
    fi = i.astype(dtype)  # m and d_real are counts held in the float dtype
    real = (fi[:, None] < d_real) & (fi[None, :] < d_real)
    dof = jnp.maximum(m - fi, 1).astype(dtype)  # Bartlett degrees of freedom, row i
    chi2 = jax.vmap(lambda j, a: 2.0 * jax.random.gamma(jax.random.fold_in(kc, j), a / 2.0, (), dtype))(i, dof)
    bartlett = jnp.where(i[:, None] > i[None, :], G, 0.0) + jnp.diag(jnp.sqrt(chi2))
    gauss = G * (fi[None, :] < m).astype(dtype)
    return jnp.where(real, jnp.where(m >= d_real, bartlett, gauss), 0.0)


def reduced_init(key, rdata: ReducedData, *, scale=1.0, loss: str = DEFAULT_LOSS) -> tuple[ReducedParams, ReducedData]:
    """Sample the reduced state of the i.i.d. ``N(0, scale²)`` initialisation directly, any n.

    ``W`` and ``b`` are the same draw as ``init_params(key, ...)``. The features are sampled in law
    (not the same draw): ``G_k = √n_k h̄_k ~ N(0, scale² I)``; per class, independently of the mean,
    ``S_k = Σ_i x x^T ~ scale² Wishart_d(n_k − 1, I)`` (Bartlett). The shared layout factors
    ``S = Σ_k S_k = D Dᵀ`` and returns the matching ``class_gram`` in the new ``ReducedData``.
    No basis exists, so per-sample reconstruction (NC4, cosine margins) is not available.
    """
    per_class = layout_for(loss) == PER_CLASS
    K, dp = rdata.class_mask.shape[0], rdata.dim_mask.shape[0]
    dtype = rdata.sizes.dtype
    kW, kH, kb = jax.random.split(key, 3)
    kM, kS = jax.random.split(kH)
    W = scale * _normal_grid(kW, K, dp, dtype)
    b = scale * _normal_grid(kb, K, 1, dtype)[:, 0]
    G = scale * _normal_grid(kM, dp, K, dtype)
    d_real = jnp.sum(rdata.dim_mask)
    m = jnp.maximum(rdata.sizes - 1, 0)
    L = jax.vmap(lambda k, mk: _wishart_factor(jax.random.fold_in(kS, k), mk, d_real, dp, dtype))(jnp.arange(K), m)
    L = scale * L * rdata.class_mask[:, None, None]
    if per_class:
        D = L
        gram = jnp.broadcast_to(jnp.eye(dp, dtype=dtype), (K, dp, dp)) * rdata.class_mask[:, None, None]
    else:
        # Virtual deviations [L_1 ... L_K] (dp × K·dp) have the same class Grams as the real ones.
        Xv = jnp.transpose(L, (1, 0, 2)).reshape(dp, K * dp)
        D, Z = _factor(Xv, dp)
        Zk = Z.reshape(dp, K, dp)
        gram = jnp.einsum("rkj,skj->krs", Zk, Zk)
    rp = mask_reduced(ReducedParams(W=W, b=b, G=G, D=D), rdata)
    return rp, rdata._replace(class_gram=gram)


def pad_reduced(rparams: ReducedParams, rdata: ReducedData, *, K: int, d: int) -> tuple[ReducedParams, ReducedData]:
    """Pad a reduced problem to ``K`` classes and feature dimension ``d`` (for sweep buckets)."""
    K0, d0 = rdata.class_mask.shape[0], rdata.dim_mask.shape[0]
    if K < K0 or d < d0:
        raise ConfigError(f"pad to K={K}, d={d} is smaller than the problem (K={K0}, d={d0})")
    dk, dd = K - K0, d - d0
    D = rparams.D
    D = jnp.pad(D, ((0, dd), (0, dd))) if D.ndim == 2 else jnp.pad(D, ((0, dk), (0, dd), (0, dd)))
    rp = ReducedParams(W=jnp.pad(rparams.W, ((0, dk), (0, dd))), b=jnp.pad(rparams.b, (0, dk)),
                       G=jnp.pad(rparams.G, ((0, dd), (0, dk))), D=D)
    rd = ReducedData(sizes=jnp.pad(rdata.sizes, (0, dk)), class_mask=jnp.pad(rdata.class_mask, (0, dk)),
                     dim_mask=jnp.pad(rdata.dim_mask, (0, dd)), bias=rdata.bias,
                     class_gram=jnp.pad(rdata.class_gram, ((0, dk), (0, dd), (0, dd))))
    return rp, rd
