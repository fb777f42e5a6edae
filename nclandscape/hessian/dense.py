"""Dense exact Hessians over the flattened parameter pytree, and Hessian-vector products.

The parameters ``Params(W, H, b)`` are flattened with ``jax.flatten_util.ravel_pytree`` (order W,
H, b, row-major). Only the *real* coordinates of a problem count: padded classes, samples and
feature dimensions (``UFMData`` masks) and ``b`` of a no-bias problem are not variables of the
problem. The objective masks them (``mask_params``), so their rows and columns of the Hessian
are exactly zero and would add spurious zero eigenvalues. :func:`masked_eigh` removes them: it
puts a sentinel strictly above the Gershgorin bound of the real block on their diagonal, so after
the ascending sort they are exactly the last ``P - P_real`` eigenvalues and are flagged invalid.
Everything is pure, jittable and vmappable over configurations (fixed padded shapes).

:data:`DENSE_MAX` is the one size limit of dense Hessians in the library: the ``auto`` method
(:mod:`~nclandscape.hessian.policy`) takes the dense path up to it, and callers that have no other
method (the Hessian directions of ``nclandscape slice``) refuse larger problems with
:func:`check_dense_size`. An explicit ``method="dense"`` is not limited by it (the commands check
its memory instead).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax.flatten_util import ravel_pytree

from nclandscape import linalg
from nclandscape.errors import ConfigError
from nclandscape.ufm import HParams, Params, UFMData

# Largest parameter count P for a dense Hessian: P² floats (72 MB in float64 at 3000), and in the
# sweep one such matrix per configuration of a vmapped chunk.
DENSE_MAX = 3000


def check_dense_size(P: int, *, what: str = "this", fix: str = "lower --K, --n or --d") -> int:
    """Raise ConfigError if a dense Hessian of ``P`` parameters exceeds :data:`DENSE_MAX`."""
    if P > DENSE_MAX:
        raise ConfigError(f"{what} needs the dense Hessian of P={P} parameters, limited to {DENSE_MAX}: {fix}")
    return P


class Spectrum(NamedTuple):
    """Ascending eigenvalues; ``valid[i]`` is False for the entries of padded coordinates (always
    the last ones). ``vectors[:, i]`` is the eigenvector of ``values[i]`` (flattened params)."""

    values: jax.Array  # (P,)
    vectors: jax.Array  # (P, P)
    valid: jax.Array  # (P,) bool


def coordinate_mask(data: UFMData, dtype=None) -> Params:
    """1 on the real coordinates of ``Params``, 0 on padded ones (and on ``b`` without bias)."""
    dtype = dtype or data.Y.dtype
    cm, sm, dm = (m.astype(dtype) for m in (data.class_mask, data.sample_mask, data.dim_mask))
    return Params(W=cm[:, None] * dm[None, :], H=dm[:, None] * sm[None, :], b=cm * data.bias.astype(dtype))


def flat_mask(data: UFMData, dtype=None):
    return ravel_pytree(coordinate_mask(data, dtype))[0]


def flat_objective(objective, params: Params, data: UFMData, hparams: HParams):
    """``(f_flat, x0, unravel)``: the objective as a function of the flat parameter vector."""
    x0, unravel = ravel_pytree(params)
    return (lambda x: objective(unravel(x), data, hparams)), x0, unravel


def hvp(objective, params: Params, data: UFMData, hparams: HParams, v: Params) -> Params:
    """Hessian-vector product ∇²f(params)·v, forward-over-reverse (``jvp`` of ``grad``)."""
    g = jax.grad(lambda p: objective(p, data, hparams))
    return jax.jvp(g, (params,), (v,))[1]


def flat_hvp(objective, params: Params, data: UFMData, hparams: HParams):
    """``x -> ∇²f·x`` on flat vectors (forward-over-reverse), linearised once at ``params``."""
    f, x0, _ = flat_objective(objective, params, data, hparams)
    _, lin = jax.linearize(jax.grad(f), x0)
    return lin


def flat_hessian(f, x):
    """The ``(P, P)`` Hessian of a scalar function ``f`` of a flat vector ``x``: ``P``
    forward-over-reverse HVPs against the unit vectors, symmetrised. Jittable."""
    _, lin = jax.linearize(jax.grad(f), x)
    Hm = jax.vmap(lin)(jnp.eye(x.shape[0], dtype=x.dtype))
    return 0.5 * (Hm + Hm.T)


def dense_hessian(objective, params: Params, data: UFMData, hparams: HParams):
    """The full ``(P, P)`` Hessian over the flattened params (P = Kd + dN + K, padded shape), by
    :func:`flat_hessian`. Jittable; no size limit (see :func:`check_dense_size`)."""
    f, x0, _ = flat_objective(objective, params, data, hparams)
    return flat_hessian(f, x0)


def sentinel_for(A, mask):
    """A value strictly above every eigenvalue of the real block of ``A`` (2 × Gershgorin + 1)."""
    m = mask.astype(A.dtype)
    bound = jnp.max(jnp.sum(jnp.abs(A * m[:, None] * m[None, :]), axis=1))
    return 2.0 * bound + 1.0


def masked_eigh(A, mask) -> Spectrum:
    """Eigen-decomposition of the block of symmetric ``A`` on the coordinates where ``mask`` is 1.

    Masked-out coordinates get the sentinel of :func:`sentinel_for` on the diagonal and zero
    off-diagonal, so their eigenvalues sort last; they are flagged ``valid = False``.
    """
    m = mask.astype(A.dtype)
    s = sentinel_for(A, m)
    B = A * m[:, None] * m[None, :] + jnp.diag((1.0 - m) * s)
    w, V = linalg.eigh(B)
    n_real = jnp.sum(m > 0)
    valid = jnp.arange(A.shape[0]) < n_real
    return Spectrum(w, V, valid)


def dense_spectrum(objective, params: Params, data: UFMData, hparams: HParams) -> Spectrum:
    """All eigenvalues (ascending) and eigenvectors of the Hessian on the real coordinates."""
    A = dense_hessian(objective, params, data, hparams)
    return masked_eigh(A, flat_mask(data, A.dtype))


def index_threshold(dtype) -> float:
    """Relative threshold below which an eigenvalue counts as negative: 1e-10 in float64 (the
    CLI contract); 1e-4 in float32, whose rounding (≈1e-7 · ‖∇²f‖ · √P) and solver tolerance
    (‖∇f‖ ≈ 1e-5 moves eigenvalues by as much) would otherwise count the exact zeros of the
    rotation symmetry as negative."""
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-4


def min_eig_and_index(values, weights, *, rtol=None):
    """``(min_eig, index)`` of eigenvalues ``values`` with multiplicities ``weights`` (0 = not an
    eigenvalue of the problem). ``index`` counts, with multiplicity, the eigenvalues below
    ``-rtol · max |λ|``."""
    rtol = index_threshold(values.dtype) if rtol is None else rtol
    present = weights > 0
    big = jnp.max(jnp.where(present, jnp.abs(values), 0.0))
    min_eig = jnp.min(jnp.where(present, values, jnp.inf))
    neg = present & (values < -rtol * big)
    index = jnp.sum(jnp.where(neg, weights, 0)).astype(jnp.int32)
    return min_eig, index
