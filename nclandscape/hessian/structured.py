"""Exact Hessian spectrum at class-collapsed points (THEORY.md §5), for MSE, rescaled MSE and CE.

At a point with ``h_{k,i} = h̄_k`` for every sample of class ``k``, the parameter space splits into
two invariant subspaces of the Hessian:

* the *collapsed* space of ``(W, G, b)``, ``G = [√n_1 h̄_1, …, √n_K h̄_K]`` (the class-mean
  directions of ``H`` scaled to unit norm; an isometric embedding). On it the Hessian is the
  Hessian of the collapsed objective
  ``g(W, G, b) = (1/N) Σ_k n_k ℓ_k(W g_k/√n_k + b) + λ_W/2‖W‖² + λ_H/2‖G‖² + λ_b/2‖b‖²``,
  a ``(2Kd + K)``-variable problem whose cost does not depend on ``n``;
* the within-class deviations (``Σ_i x_{k,i} = 0``, dimension ``d (n_k − 1)`` per class), on which
  it acts sample by sample as ``D_k = Wᵀ ∇²ℓ_k(z_k) W / N + λ_H I_d``, with ``z_k = W h̄_k + b``.

So ``spec(∇²f) = spec(collapsed) ∪ ⋃_k spec(D_k)^{×(n_k − 1)}``. Padded classes, padded feature
dimensions and ``b`` of a no-bias problem are not coordinates: they get multiplicity 0.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.hessian.dense import masked_eigh
from nclandscape.objectives import LOSSES, Loss
from nclandscape.ufm import HParams, Params, UFMData


class StructuredSpectrum(NamedTuple):
    """Eigenvalues with multiplicities: the collapsed block (``2Kd + K`` values, multiplicity 1 or 0)
    followed by the ``K`` blocks ``D_k`` (``d`` values each, multiplicity ``n_k − 1`` or 0)."""

    values: jax.Array  # (2Kd + K + K d,)
    multiplicities: jax.Array  # same shape, integer
    collapsed_vectors: jax.Array  # (2Kd + K, 2Kd + K) eigenvectors of the collapsed block (W, G, b)


def loss_entry(loss) -> Loss:
    """The registry entry of ``loss``: a loss name of :data:`nclandscape.objectives.LOSSES`, or the
    entry itself (what ``objective_for(name)`` returns). Anything else has no per-sample loss."""
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    if isinstance(loss, Loss):
        return loss
    raise ConfigError(
        f"the structured Hessian needs a per-sample loss: give a loss name ({', '.join(LOSSES)}) or "
        "nclandscape.objectives.objective_for(name) (use the dense or Lanczos method for other objectives)"
    )


def per_sample_loss(loss, data: UFMData, hparams: HParams):
    """The per-sample loss ``ℓ(z (K, m), y (K, m)) -> (m,)`` of a registered loss (name or entry)."""
    return loss_entry(loss).bind(hparams, data.class_mask)


def supports(loss) -> bool:
    """Whether ``loss`` names a registered loss (or is one), so its structured spectrum exists."""
    try:
        loss_entry(loss)
        return True
    except ConfigError:
        return False


def class_counts(data: UFMData):
    Yw = data.Y * data.sample_mask[None, :] * data.class_mask[:, None]
    return jnp.sum(Yw, axis=1)


def class_means(params: Params, data: UFMData):
    """``(d, K)`` class means of the real samples (zero for padded classes)."""
    Yw = data.Y * data.sample_mask[None, :] * data.class_mask[:, None]
    counts = jnp.sum(Yw, axis=1)
    return (params.H @ Yw.T) / jnp.maximum(counts, 1)[None, :]


def collapse_residual(params: Params, data: UFMData):
    """``max_i ‖h_i − h̄_{k(i)}‖ / max(max_i ‖h_i‖, tiny)``: 0 exactly at class-collapsed points."""
    H = params.H * data.sample_mask[None, :] * data.dim_mask[:, None]
    Yw = data.Y * data.sample_mask[None, :] * data.class_mask[:, None]
    dev = H - class_means(params, data) @ Yw
    num = jnp.max(jnp.sqrt(jnp.sum(dev**2, axis=0)))
    den = jnp.max(jnp.sqrt(jnp.sum(H**2, axis=0)))
    tiny = jnp.finfo(H.dtype).tiny
    return num / jnp.maximum(den, tiny)


def collapse_tol(dtype) -> float:
    """Largest relative within-class deviation for which a point counts as collapsed: the
    structured spectrum is then exact for the projected point, and differs from the true one by
    O(residual · ‖∇³f‖), below 1e-8 relative in float64 and 1e-4 in float32."""
    return 1e-8 if jnp.dtype(dtype) == jnp.float64 else 1e-4


class Collapsed(NamedTuple):
    """Coordinates of a class-collapsed point (every sample at its class mean). Not the state of
    the class-reduced dynamics (:class:`nclandscape.reduced.ReducedParams`), which also carries
    the within-class deviations."""

    W: jax.Array  # (K, d)
    G: jax.Array  # (d, K) = class means scaled by sqrt(n_k)
    b: jax.Array  # (K,)


def collapse_params(params: Params, data: UFMData) -> Collapsed:
    n = class_counts(data)
    return Collapsed(params.W, class_means(params, data) * jnp.sqrt(n)[None, :], params.b)


def expand_collapsed(red: Collapsed, data: UFMData) -> Params:
    """The class-collapsed ``Params`` of collapsed coordinates (inverse of :func:`collapse_params`)."""
    n = class_counts(data)
    means = red.G / jnp.sqrt(jnp.maximum(n, 1))[None, :]
    Yw = data.Y * data.sample_mask[None, :] * data.class_mask[:, None]
    return Params(red.W, means @ Yw, red.b)


def collapsed_mask(data: UFMData, dtype=None) -> Collapsed:
    dtype = dtype or data.Y.dtype
    cm, dm = data.class_mask.astype(dtype), data.dim_mask.astype(dtype)
    return Collapsed(cm[:, None] * dm[None, :], dm[:, None] * cm[None, :], cm * data.bias.astype(dtype))


def collapsed_objective(loss, data: UFMData, hparams: HParams):
    """``g(Collapsed) -> scalar``: the objective restricted to class-collapsed points."""
    ell = per_sample_loss(loss, data, hparams)
    n = class_counts(data)
    N = jnp.sum(n)
    m = collapsed_mask(data)
    eye = jnp.diag(data.class_mask).astype(data.Y.dtype)

    def g(r: Collapsed):
        W, G, b = r.W * m.W, r.G * m.G, r.b * m.b
        means = G / jnp.sqrt(jnp.maximum(n, 1))[None, :]
        z = W @ means + b[:, None]  # (K, K): logits of class k's samples in column k
        data_term = jnp.sum(n * ell(z, eye)) / N
        reg = 0.5 * (hparams.lambda_W * jnp.sum(W**2) + hparams.lambda_H * jnp.sum(G**2) + hparams.lambda_b * jnp.sum(b**2))
        return data_term + reg

    return g


def collapsed_hessian(loss, params: Params, data: UFMData, hparams: HParams):
    """``(2Kd + K)²`` Hessian of the collapsed objective at the class means of ``params``."""
    from jax.flatten_util import ravel_pytree

    g = collapsed_objective(loss, data, hparams)
    x0, unravel = ravel_pytree(collapse_params(params, data))
    A = jax.hessian(lambda x: g(unravel(x)))(x0)
    return 0.5 * (A + A.T)


def within_class_blocks(loss, params: Params, data: UFMData, hparams: HParams):
    """``(K, d, d)`` blocks ``D_k = Wᵀ ∇²ℓ_k(z_k) W / N + λ_H I`` (masked to the real dims)."""
    ell = per_sample_loss(loss, data, hparams)
    n = class_counts(data)
    N = jnp.sum(n)
    dm = data.dim_mask.astype(data.Y.dtype)
    W = params.W * data.class_mask[:, None] * dm[None, :]
    b = params.b * data.class_mask * data.bias
    means = class_means(params, data)
    K = W.shape[0]
    eye = jnp.diag(data.class_mask).astype(W.dtype)

    def block(k):
        z = W @ means[:, k] + b
        Hz = jax.hessian(lambda zz: ell(zz[:, None], eye[:, k][:, None])[0])(z)
        D = W.T @ Hz @ W / N + hparams.lambda_H * jnp.eye(W.shape[1], dtype=W.dtype)
        return 0.5 * (D + D.T)

    return jax.vmap(block)(jnp.arange(K))


def structured_spectrum(loss, params: Params, data: UFMData, hparams: HParams) -> StructuredSpectrum:
    """Exact spectrum of ∇²f at the class-collapsed point with the class means of ``params``.

    Exact when ``params`` is collapsed (check :func:`collapse_residual`); otherwise it is the
    spectrum at the collapsed projection. Jittable and vmappable over configurations.
    """
    from jax.flatten_util import ravel_pytree

    A = collapsed_hessian(loss, params, data, hparams)
    rmask = ravel_pytree(collapsed_mask(data, A.dtype))[0]
    red = masked_eigh(A, rmask)
    D = within_class_blocks(loss, params, data, hparams)
    dm = data.dim_mask
    blocks = jax.vmap(lambda Dk: masked_eigh(Dk, dm))(D)
    n = class_counts(data)
    mult_blocks = jnp.where(blocks.valid, jnp.maximum(n - 1, 0)[:, None], 0).astype(jnp.int32)
    values = jnp.concatenate([red.values, blocks.values.reshape(-1)])
    mult = jnp.concatenate([red.valid.astype(jnp.int32), mult_blocks.reshape(-1)])
    return StructuredSpectrum(values, mult, red.vectors)


def expand(values, multiplicities) -> np.ndarray:
    """All eigenvalues, ascending, each repeated by its multiplicity (NumPy, outside jit)."""
    v = np.asarray(values)
    m = np.asarray(multiplicities)
    return np.sort(np.repeat(v, m))


def collapsed_vector_to_params(vec, data: UFMData) -> Params:
    """Turn an eigenvector of the collapsed block into a (unit-norm) ``Params`` direction."""
    from jax.flatten_util import ravel_pytree

    K, d, dt = data.Y.shape[0], data.dim_mask.shape[0], data.Y.dtype
    _, unravel = ravel_pytree(Collapsed(jnp.zeros((K, d), dt), jnp.zeros((d, K), dt), jnp.zeros((K,), dt)))
    return expand_collapsed(unravel(vec), data)
