"""The ridge least-squares classifier and the five-term MSE decomposition (THEORY_central_path.md §1).

For vanilla MSE with weight decay,

    f(W, H, b) = L_NC1(within) + L_NC1(ridge) + L_NC2/3 + L⊥ + L_H

exactly, for every (W, H, b) and λ's ≥ 0: the first three terms are the loss the current features
would have under the ridge least-squares classifier ``(W_LS, b_LS)`` of those features, ``L⊥ =
½ tr((W̃ − W̃_LS) A (W̃ − W̃_LS)ᵀ)`` is the deviation of the actual classifier from it (Han, Papyan &
Donoho's term (B)), and ``L_H = (λ_H/2)||H||²``.

Everything is computed from class statistics (:class:`ClassStats`: class means, class weights,
Σ_W, ||H||²), so the same code serves full features, padded sweep buckets (padded samples and
classes get weight 0, padded feature dimensions are zero) and the class-reduced state. The
augmented normal matrix ``A`` is inverted on its range (symmetric eigen-decomposition, eigenvalues
below ``(d+1)·10·eps·max`` dropped): with λ_W = 0 this is the minimum-norm least-squares
classifier, for which the identity still holds (the normal equations are consistent), and padded
feature dimensions drop out. Unbalanced classes are handled with the class weights π_k = n_k/N
(the balanced formulas of the theory have π_k = 1/K).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nclandscape import linalg

TERMS = ("nc1_within", "nc1_ridge", "nc23", "perp", "features")
# Names of the terms in solve --json, sweep tables, optbench traces and ResNet metrics.jsonl.
JSON_KEYS = {"nc1_within": "L_nc1_within", "nc1_ridge": "L_nc1_ridge", "nc23": "L_nc23", "perp": "L_perp",
             "features": "L_features"}


class Decomposition(NamedTuple):
    """The five terms of f; their sum is f (``total``)."""

    nc1_within: jax.Array  # ½ tr(W_LS Σ_W W_LSᵀ)
    nc1_ridge: jax.Array  # (λ_W/2)||W_LS||² + (λ_b/2)||b_LS||²
    nc23: jax.Array  # ½ Σ_k π_k ||W_LS h̄_k + b_LS − e_k||²
    perp: jax.Array  # ½ tr((W̃ − W̃_LS) A (W̃ − W̃_LS)ᵀ)
    features: jax.Array  # (λ_H/2)||H||²

    @property
    def total(self):
        return self.nc1_within + self.nc1_ridge + self.nc23 + self.perp + self.features

    @property
    def nc1(self):
        """The paper's L_NC1 (within + ridge)."""
        return self.nc1_within + self.nc1_ridge

    def as_json(self) -> dict:
        """``{L_nc1_within: float, ...}``: the keys ``solve --json`` and the tables use."""
        return {JSON_KEYS[k]: float(v) for k, v in self._asdict().items()}


class ClassStats(NamedTuple):
    """Class statistics of a feature matrix: all the decomposition needs."""

    means: jax.Array  # (d, K) class means h̄_k (zero for empty / padded classes)
    weights: jax.Array  # (K,) π_k = n_k / N (zero for padded classes)
    Sigma_W: jax.Array  # (d, d) (1/N) Σ (h − h̄_k)(h − h̄_k)ᵀ
    sq_norm: jax.Array  # () ||H||²_F over real samples
    N: jax.Array  # () number of real samples


class LSClassifier(NamedTuple):
    W: jax.Array  # (K, d)
    b: jax.Array  # (K,) zeros without bias


def class_stats(H, Y, *, sample_mask=None, class_mask=None) -> ClassStats:
    """Class statistics of ``H (d, N)`` with one-hot ``Y (K, N)``; masks as in ``nclandscape.metrics``."""
    K, N = Y.shape
    dt = H.dtype
    sm = jnp.ones((N,), dt) if sample_mask is None else sample_mask.astype(dt)
    cm = jnp.ones((K,), dt) if class_mask is None else class_mask.astype(dt)
    Yw = Y.astype(dt) * sm[None, :] * cm[:, None]
    counts = Yw.sum(axis=1)
    n_eff = jnp.maximum(counts.sum(), 1.0)
    means = (H @ Yw.T) / jnp.maximum(counts, 1.0)[None, :]
    X = (H - means @ Yw) * Yw.sum(axis=0)[None, :]  # within-class deviations; 0 for padded samples
    return ClassStats(means=means, weights=counts / n_eff, Sigma_W=(X @ X.T) / n_eff,
                      sq_norm=jnp.sum((H * Yw.sum(axis=0)[None, :]) ** 2), N=n_eff)


def class_stats_reduced(M, D, sizes) -> ClassStats:
    """Class statistics of the shared-layout reduced state (``nclandscape.reduced``, vanilla MSE).

    ``M (d, K)`` holds √n_k h̄_k, the deviations are ``D Z`` with ``Z`` of orthonormal rows, so the
    within-class scatter is ``D Dᵀ``; ``sizes (K,)`` is n_k (0 for padded classes).
    """
    dt = M.dtype
    sizes = sizes.astype(dt)
    n_eff = jnp.maximum(sizes.sum(), 1.0)
    means = M / jnp.sqrt(jnp.maximum(sizes, 1.0))[None, :]
    return ClassStats(means=means, weights=sizes / n_eff, Sigma_W=(D @ D.T) / n_eff,
                      sq_norm=jnp.sum(M**2) + jnp.sum(D**2), N=n_eff)


def _bias_flag(bias, dt):
    return jnp.asarray(1.0 if bias is True else (0.0 if bias is False else bias), dt)


def _normal_matrix(stats: ClassStats, lam_W, lam_b, beta):
    """Augmented ``A = (1/N) H̃H̃ᵀ + diag(λ_W I, λ_b)`` and right-hand side ``(1/N) Y H̃ᵀ``.

    Without bias (``beta = 0``) the last row/column is the identity's and the right-hand side's
    last column is zero, so ``b_LS = 0`` and ``A`` acts on W alone.
    """
    M, pi = stats.means, stats.weights
    d = M.shape[0]
    mu = M @ pi
    second = stats.Sigma_W + (M * pi[None, :]) @ M.T
    top = jnp.concatenate([second + lam_W * jnp.eye(d, dtype=M.dtype), (beta * mu)[:, None]], axis=1)
    corner = beta * (1.0 + lam_b) + (1.0 - beta)
    bottom = jnp.concatenate([beta * mu, corner[None]])[None, :]
    A = jnp.concatenate([top, bottom], axis=0)
    R = jnp.concatenate([(M * pi[None, :]).T, (beta * pi)[:, None]], axis=1)  # (K, d+1)
    return A, R


def _range_inverse(A):
    """Moore–Penrose inverse of symmetric PSD ``A`` (eigenvalues at rounding level dropped)."""
    s, Q = linalg.eigh(A)
    tol = jnp.max(jnp.abs(s)) * A.shape[0] * 10 * jnp.finfo(A.dtype).eps
    inv = jnp.where(s > tol, 1.0 / jnp.where(s > tol, s, 1.0), 0.0)
    return (Q * inv[None, :]) @ Q.T


def ls_classifier_from_stats(stats: ClassStats, *, lam_W, lam_b, bias=True) -> LSClassifier:
    """Ridge least-squares classifier ``argmin_{W,b} f`` of the features summarised by ``stats``."""
    dt = stats.means.dtype
    beta = _bias_flag(bias, dt)
    A, R = _normal_matrix(stats, jnp.asarray(lam_W, dt), jnp.asarray(lam_b, dt), beta)
    Wt = R @ _range_inverse(A)
    return LSClassifier(W=Wt[:, :-1], b=Wt[:, -1] * beta)


def ls_classifier(H, Y, *, lam_W, lam_b, bias=True, sample_mask=None, class_mask=None) -> LSClassifier:
    """Ridge least-squares classifier ``(W_LS, b_LS)`` of features ``H (d, N)``, labels ``Y (K, N)``.

    With bias: ``W̃_LS = (1/N) Y H̃ᵀ A⁻¹`` (THEORY_central_path.md §1.2); without (``bias=False`` or
    0.0): ``W_LS = (1/N) Y Hᵀ ((1/N) HHᵀ + λ_W I)⁻¹``, ``b_LS = 0``. λ_W = 0 with a singular Σ_T
    gives the minimum-norm solution.
    """
    stats = class_stats(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    return ls_classifier_from_stats(stats, lam_W=lam_W, lam_b=lam_b, bias=bias)


def decomposition_from_stats(W, b, stats: ClassStats, *, lam_W, lam_H, lam_b, bias=True) -> Decomposition:
    """The five terms of f at ``(W, b)`` and features summarised by ``stats`` (see module doc)."""
    dt = stats.means.dtype
    beta = _bias_flag(bias, dt)
    lam_W, lam_H, lam_b = (jnp.asarray(x, dt) for x in (lam_W, lam_H, lam_b))
    A, R = _normal_matrix(stats, lam_W, lam_b, beta)
    Wt_LS = R @ _range_inverse(A)
    W_LS, b_LS = Wt_LS[:, :-1], Wt_LS[:, -1] * beta
    K = W.shape[0]
    Wt = jnp.concatenate([W, (b * beta)[:, None]], axis=1)
    delta = Wt - Wt_LS
    # Residual of each class mean under the LS classifier; weight π_k kills padded classes.
    resid = W_LS @ stats.means + b_LS[:, None] - jnp.eye(K, dtype=dt)
    return Decomposition(
        nc1_within=0.5 * jnp.sum((W_LS @ stats.Sigma_W) * W_LS),
        nc1_ridge=0.5 * (lam_W * jnp.sum(W_LS**2) + lam_b * jnp.sum(b_LS**2)),
        nc23=0.5 * jnp.sum(resid**2 * stats.weights[None, :]),
        perp=0.5 * jnp.sum((delta @ A) * delta),
        features=0.5 * lam_H * stats.sq_norm,
    )


def decomposition(W, H, b, Y, hparams, *, sample_mask=None, class_mask=None, bias=True) -> Decomposition:
    """Five-term decomposition of vanilla MSE ``f(W, H, b)`` (THEORY_central_path.md §1.3).

    ``W (K, d)``, ``H (d, N)``, ``b (K,)``, one-hot ``Y (K, N)``, ``hparams`` an
    :class:`~nclandscape.ufm.HParams` (only λ_W, λ_H, λ_b are read; α = M = 1 is assumed). Masks as
    in ``nclandscape.metrics``: padded samples/classes masked, padded feature dimensions zero.
    ``bias``: True/False or the array flag ``UFMData.bias`` (without bias ``b`` is ignored and the
    LS classifier has no bias). Pure, jittable, vmappable; the five fields sum to f.
    """
    stats = class_stats(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    if class_mask is not None:
        W = W * class_mask.astype(W.dtype)[:, None]
        b = b * class_mask.astype(b.dtype)
    return decomposition_from_stats(W, b, stats, lam_W=hparams.lambda_W, lam_H=hparams.lambda_H,
                                    lam_b=hparams.lambda_b, bias=bias)


def perp_over_f(terms: Decomposition):
    """``L⊥ / f`` (0 where f = 0)."""
    f = terms.total
    return jnp.where(f > 0, terms.perp / jnp.where(f > 0, f, 1.0), 0.0)
