"""Neural-collapse metrics (THEORY.md §6) from the reduced state.

NC1, NC2, NC3 and the numerical rank need only second moments, which the reduced state holds
exactly: class means ``h̄_k = G_k / √n_k``, within-class scatter ``S = Σ_k D_k Γ_k D_kᵀ`` and
per-class Grams ``H_k H_kᵀ = G_k G_kᵀ + D_k Γ_k D_kᵀ``. NC4 and the cosine margins are
per-sample: they are computed on the exact reconstruction when a :class:`ReducedBasis` is given,
and are NaN otherwise (e.g. after :func:`reduced_init`, which never draws the samples).
The formulas and thresholds are those of :func:`nclandscape.metrics.nc_metrics`.
"""
from __future__ import annotations

import jax.numpy as jnp

from nclandscape import linalg

from nclandscape.metrics import NCMetrics, _etf_distance, cosine_margins, numerical_rank_of_grams
from nclandscape.reduced.state import ReducedBasis, ReducedData, ReducedParams, expand_deviations, mask_reduced


def class_scatter(rparams: ReducedParams, rdata: ReducedData):
    """Per-class deviation Grams ``S_k = D_k Γ_k D_kᵀ`` ``(K, d, d)``."""
    D = rparams.D if rparams.D.ndim == 3 else jnp.broadcast_to(rparams.D, (rdata.class_mask.shape[0],) + rparams.D.shape)
    return jnp.einsum("kdr,krs,kes->kde", D, rdata.class_gram, D)


def reduced_metrics(rparams: ReducedParams, rdata: ReducedData, basis: ReducedBasis | None = None) -> NCMetrics:
    p = mask_reduced(rparams, rdata)
    cm = rdata.class_mask
    sizes = rdata.sizes * cm
    dt = p.W.dtype
    d = rdata.dim_mask.shape[0]
    eps = jnp.finfo(dt).eps
    k_eff = cm.sum()
    N = sizes.sum()
    dim = jnp.sum(rdata.dim_mask).astype(jnp.int32)

    means = p.G / jnp.sqrt(jnp.maximum(sizes, 1))[None, :]  # (d, K)
    hG = means @ sizes / N
    Hbar = (means - hG[:, None]) * cm[None, :]
    # Within-class scatter Σ_k D_k D_kᵀ (Σ_k Γ_k is the identity on D's columns), independent of
    # class_gram; the per-class Grams are needed for the numerical rank only.
    S = p.D @ p.D.T if p.D.ndim == 2 else jnp.einsum("kdr,ker->de", p.D, p.D)
    Sk = class_scatter(p, rdata) * cm[:, None, None]

    Sigma_B = (Hbar @ Hbar.T) / k_eff
    s, U = linalg.eigh(Sigma_B)
    tol = jnp.max(jnp.abs(s)) * d * eps * 10
    proj = jnp.einsum("di,de,ei->i", U, S, U) / N  # u_iᵀ Σ_W u_i
    nc1 = jnp.sum(jnp.where(s > tol, proj / jnp.where(s > tol, s, 1.0), 0.0)) / k_eff

    nc2 = _etf_distance(p.W @ p.W.T, cm, k_eff, dim)
    nc3 = _etf_distance(p.W @ Hbar, cm, k_eff, dim)

    grams = jnp.einsum("dk,ek->kde", p.G, p.G) + Sk
    numerical_rank = numerical_rank_of_grams(grams, cm, k_eff)
    # Unknown class Grams (NaN) must give NaN, not the 0 the thresholding above would turn them into.
    numerical_rank = jnp.where(jnp.all(jnp.isfinite(grams)), numerical_rank, jnp.nan)

    if basis is None:
        nan = jnp.asarray(jnp.nan, dt)
        return NCMetrics(nc1, nc2, nc3, nan, numerical_rank, nan)

    sm = basis.sample_mask
    Yw = basis.Y * sm[None, :] * cm[:, None]
    H = means @ Yw + expand_deviations(p.D, basis)
    logits = jnp.where(cm[:, None] > 0, p.W @ H + p.b[:, None], -jnp.inf)
    pred = jnp.argmax(logits, axis=0)
    # Same distance formula as nc_metrics (ties break identically); XLA fuses the reduction.
    dist = jnp.sum((H[:, None, :] - means[:, :, None]) ** 2, axis=0)  # (K, N)
    ncc = jnp.argmin(jnp.where(cm[:, None] > 0, dist, jnp.inf), axis=0)
    nc4 = jnp.sum((pred != ncc).astype(sm.dtype) * sm) / N
    margins = cosine_margins(p.W, H, basis.Y, sample_mask=sm, class_mask=cm)
    return NCMetrics(nc1, nc2, nc3, nc4, numerical_rank, jnp.min(margins))
