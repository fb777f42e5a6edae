"""The MSE-family objective in reduced coordinates: cost independent of the number of samples.

With ``E = W G + (b 1ᵀ − M I) diag(√n)`` (``G``: the class means times √n_k; ``M``: the rescaled-MSE
target; column k of ``E`` is √n_k times the residual of class k's mean) and ``Ω_{jk} = α`` if ``j = k`` else 1,

    N f = ½ Σ_{jk} Ω_{jk} E_{jk}²                                 (class means)
        + ½ Σ_k tr(Ω_k W D_k D_kᵀ Wᵀ)                             (deviations; D_k = D when shared)
        + N (λ_W ‖W‖² + λ_H (‖G‖² + ‖D‖²) + λ_b ‖b‖²) / 2,

which equals the full ``mse_objective`` at the reconstructed parameters (the cross terms vanish
because deviations sum to zero within each class). The shared layout is exact only for α = 1; it
returns NaN otherwise (so a misuse shows as a diverged run instead of a silent wrong answer).
"""
from __future__ import annotations

import jax.numpy as jnp

from nclandscape.reduced.state import ReducedData, ReducedParams, mask_reduced
from nclandscape.ufm import HParams


def reduced_objective(rparams: ReducedParams, rdata: ReducedData, hparams: HParams):
    """Rescaled MSE with weight decay (vanilla when α = M = 1) of the reduced state."""
    p = mask_reduced(rparams, rdata)
    cm = rdata.class_mask
    K = cm.shape[0]
    eye = jnp.eye(K, dtype=p.W.dtype)
    omega = (1.0 + (hparams.alpha - 1.0) * eye) * cm[:, None] * cm[None, :]
    E = p.W @ p.G + (p.b[:, None] - hparams.M * eye) * jnp.sqrt(rdata.sizes)[None, :]
    means_term = 0.5 * jnp.sum(omega * E**2)
    if p.D.ndim == 3:
        U = jnp.einsum("jd,kdr->jkr", p.W, p.D)  # U[j, k] = w_j D_k
        dev_term = 0.5 * jnp.sum(omega[:, :, None] * U**2)
    else:
        dev_term = 0.5 * jnp.sum((p.W @ p.D) ** 2)
        dev_term = jnp.where(hparams.alpha == 1.0, dev_term, jnp.nan)
    penalty = 0.5 * (
        hparams.lambda_W * jnp.sum(p.W**2)
        + hparams.lambda_H * (jnp.sum(p.G**2) + jnp.sum(p.D**2))
        + hparams.lambda_b * jnp.sum(p.b**2)
    )
    return (means_term + dev_term) / jnp.sum(rdata.sizes) + penalty
