"""The profile objective F(H) = min_{W,b} f(W, H, b) and its gradient by the envelope theorem.

``∇_H F = W_LSᵀ R_LS / N + λ_H H`` with ``R_LS = W_LS H + b_LS 1ᵀ − Y`` (THEORY_central_path.md §2):
the H-dependence of the least-squares classifier drops out, so no differentiation through the
solve is needed. F = L_NC1 + L_NC2/3 + L_H, i.e. the decomposition with L⊥ = 0.
"""
from __future__ import annotations

import jax.numpy as jnp

from nclandscape.central_path.decomposition import class_stats, decomposition_from_stats, ls_classifier_from_stats


def central_path_value_and_grad(H, Y, hparams, *, sample_mask=None, class_mask=None, bias=True):
    """``(F(H), ∇_H F(H))`` for vanilla MSE; masks and ``bias`` as in :func:`decomposition`."""
    dt = H.dtype
    K, N = Y.shape
    sm = jnp.ones((N,), dt) if sample_mask is None else sample_mask.astype(dt)
    stats = class_stats(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    ls = ls_classifier_from_stats(stats, lam_W=hparams.lambda_W, lam_b=hparams.lambda_b, bias=bias)
    terms = decomposition_from_stats(ls.W, ls.b, stats, lam_W=hparams.lambda_W, lam_H=hparams.lambda_H,
                                     lam_b=hparams.lambda_b, bias=bias)
    F = terms.nc1_within + terms.nc1_ridge + terms.nc23 + terms.features
    cm = jnp.ones((K,), dt) if class_mask is None else class_mask.astype(dt)
    R = (ls.W @ H + ls.b[:, None] - Y.astype(dt) * cm[:, None]) * sm[None, :]
    grad = ls.W.T @ R / stats.N + hparams.lambda_H * H * sm[None, :]
    return F, grad
