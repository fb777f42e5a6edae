"""SNR singular values and the central-path loss as a function of them (THEORY_central_path.md §2).

With λ_W = λ_b = λ_H = 0 the profile objective F(H) = min_{W,b} f is invariant under
H ↦ AH + c1ᵀ and depends on H only through the singular values ω_1 ≥ … ≥ ω_{K−1} of the SNR
matrix Ω = Σ_W^{-1/2} M̄ (zero-padded to K − 1 entries when d < K − 1):

    F = ½ Σ_j 1/(K + ω_j²),   L_NC1 = ½ Σ_j ω_j²/(K + ω_j²)²,   L_NC2/3 = ½ Σ_j K/(K + ω_j²)².

NC metrics in whitened coordinates (Σ_W = I, μ = 0), with φ(s) = ||s/||s|| − 1/√(K−1)||:
NC1 = Σ_j 1/ω_j², NC2 (classifier Gram) = φ(ω²/(K+ω²)²), NC2 (class-mean Gram) = φ(ω²),
NC3 = φ(ω²/(K+ω²)). All assume balanced classes.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape import linalg
from nclandscape.central_path.decomposition import class_stats

# Σ_W with condition number above this makes ω unreliable: snr_singular_values warns.
SIGMA_W_COND_WARN = 1e10


class OmegaTerms(NamedTuple):
    F: jax.Array
    nc1: jax.Array  # L_NC1 (within part; the ridge part is 0 at λ = 0)
    nc23: jax.Array


class OmegaNC(NamedTuple):
    nc1: jax.Array
    nc2: jax.Array  # of the classifier Gram W Wᵀ (the library's NC2)
    nc2_means: jax.Array  # of the class-mean Gram M̄ᵀM̄
    nc3: jax.Array


def _warn_ill_conditioned(cond):
    c = float(np.max(np.asarray(cond)))
    if not np.isfinite(c) or c > SIGMA_W_COND_WARN:
        warnings.warn(f"Sigma_W is ill-conditioned (condition number {c:.3g} > {SIGMA_W_COND_WARN:.0e}): "
                      "the SNR singular values are computed on its range and are unreliable; "
                      "use more samples per class (d <= K (n - 1)) or fewer feature dimensions",
                      RuntimeWarning, stacklevel=3)


def snr_from_stats(means, weights, Sigma_W, *, warn=True):
    """ω (K−1,) from class means ``(d, K)``, class weights ``(K,)`` and Σ_W ``(d, d)``.

    Symmetric whitening on the range of Σ_W (rank-aware: directions where Σ_W vanishes are
    dropped); ω sorted descending, zero-padded to K − 1 entries.
    """
    d, K = means.shape
    dt = means.dtype
    mu = means @ weights
    Mbar = (means - mu[:, None]) * (weights > 0).astype(dt)[None, :]
    s, U = linalg.eigh(Sigma_W)
    smax = jnp.max(jnp.abs(s))
    keep = s > smax * d * 10 * jnp.finfo(dt).eps
    inv_sqrt = jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, s, 1.0)), 0.0)
    Omega = (U * inv_sqrt[None, :]) @ (U.T @ Mbar)
    sv = linalg.svdvals(Omega)  # descending, min(d, K) values
    omega = jnp.concatenate([sv, jnp.zeros((max(K - 1 - sv.shape[0], 0),), dt)])[: K - 1]
    if warn:
        cond = jnp.where(jnp.all(keep), smax / jnp.min(jnp.where(keep, s, smax)), jnp.inf)
        jax.debug.callback(_warn_ill_conditioned, cond)
    return omega


def snr_singular_values(H, Y, *, sample_mask=None, class_mask=None, warn=True):
    """The SNR singular values ω_1 ≥ … ≥ ω_{K−1} of features ``H (d, N)`` (labels ``Y (K, N)``).

    GL(d)-invariant: computed from raw features. Warns (RuntimeWarning) when Σ_W is singular or
    its condition number exceeds ``SIGMA_W_COND_WARN``. Padded classes give trailing zeros.
    """
    st = class_stats(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    return snr_from_stats(st.means, st.weights, st.Sigma_W, warn=warn)


def _num_classes(omega, K):
    return omega.shape[-1] + 1 if K is None else K


def central_path_loss(omega, *, K=None):
    """F = ½ Σ_j 1/(K + ω_j²) over the K − 1 entries of ``omega`` (zeros count)."""
    K = _num_classes(omega, K)
    return 0.5 * jnp.sum(1.0 / (K + omega**2), axis=-1)


def central_path_terms(omega, *, K=None) -> OmegaTerms:
    """F, L_NC1 and L_NC2/3 as functions of ω (λ = 0)."""
    K = _num_classes(omega, K)
    q = K + omega**2
    return OmegaTerms(F=0.5 * jnp.sum(1.0 / q, axis=-1), nc1=0.5 * jnp.sum(omega**2 / q**2, axis=-1),
                      nc23=0.5 * jnp.sum(K / q**2, axis=-1))


def _phi(s):
    k1 = s.shape[-1]
    sn = s / jnp.linalg.norm(s, axis=-1, keepdims=True)
    return jnp.linalg.norm(sn - 1.0 / jnp.sqrt(k1), axis=-1)


def nc_of_omega(omega, *, K=None) -> OmegaNC:
    """NC1–NC3 on the whitened manifold as functions of ω (needs all ω_j > 0)."""
    K = _num_classes(omega, K)
    w2 = omega**2
    return OmegaNC(nc1=jnp.sum(1.0 / w2, axis=-1), nc2=_phi(w2 / (K + w2) ** 2), nc2_means=_phi(w2),
                   nc3=_phi(w2 / (K + w2)))
