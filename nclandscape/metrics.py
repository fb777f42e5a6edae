"""Neural-collapse metrics (THEORY.md §6), pure and jittable.

Conventions: ``W`` is ``(K, d)`` (classifier rows), ``H`` is ``(d, N)`` (features as columns),
``b`` is ``(K,)``, ``Y`` is the ``(K, N)`` one-hot label matrix. Optional masks support the sweep
engine's padding: ``sample_mask`` ``(N,)`` marks real samples, ``class_mask`` ``(K,)`` real
classes; padded feature dimensions need no mask (they are zero rows of ``H`` / columns of ``W``).
``dim`` is the feature dimension the problem really has (``d`` by default); it selects the
rank-``d`` variant of NC2/NC3 when ``d < K - 1``.

NC1 is computed as ``(1/(N K)) sum_i ||X^T u_i||^2 / s_i`` over the eigenpairs ``(s_i, u_i)`` of
Sigma_B above a rank tolerance, which is a sum of non-negative terms: it is never negative, in
float32 too (a float32 ``pinv`` route gives negative values).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nclandscape import linalg


class NCMetrics(NamedTuple):
    nc1: jax.Array
    nc2: jax.Array
    nc3: jax.Array
    nc4: jax.Array
    numerical_rank: jax.Array
    min_cos_margin: jax.Array


def _masks(H, Y, sample_mask, class_mask):
    K, N = Y.shape
    dt = H.dtype
    sm = jnp.ones((N,), dt) if sample_mask is None else sample_mask.astype(dt)
    cm = jnp.ones((K,), dt) if class_mask is None else class_mask.astype(dt)
    return sm, cm


def class_means(H, Y, *, sample_mask=None, class_mask=None):
    """Class means ``(d, K)``, global mean ``(d,)`` (mean of class means' samples), counts ``(K,)``."""
    sm, cm = _masks(H, Y, sample_mask, class_mask)
    Yw = Y.astype(H.dtype) * sm[None, :] * cm[:, None]
    counts = Yw.sum(axis=1)
    means = (H @ Yw.T) / jnp.maximum(counts, 1)[None, :]
    hG = (H @ (sm * Yw.sum(0))) / jnp.maximum(Yw.sum(), 1)
    return means, hG, counts


def _etf_target(cm, k_eff):
    """(I - 1 1^T / K)/sqrt(K - 1) on the real classes (zero on padded ones)."""
    P = jnp.diag(cm) - jnp.outer(cm, cm) / k_eff
    return P, P / jnp.sqrt(jnp.maximum(k_eff - 1, 1))


def _etf_distance(A, cm, k_eff, dim):
    """``|| A/||A||_F - T ||_F`` with T the normalised simplex-ETF target.

    For ``dim < K - 1`` the target is the nearest normalised best rank-``dim`` approximation of
    ``I - 1 1^T/K``. Those approximations are ``P_V / sqrt(dim)`` for every ``dim``-dimensional
    subspace V of U = 1^⊥ ∩ span(real classes), and ``||An - P_V/sqrt(dim)||^2 =
    2 - 2 tr(V^T S V)/sqrt(dim)`` with ``S = P sym(An) P``: the nearest one spans the top-``dim``
    eigenvectors of S *restricted to U*. S vanishes off U (the all-ones direction, padded class
    axes), so when S has fewer than ``dim`` positive eigenvalues on U its plain top-``dim``
    eigenspace would take in those zero directions, which are no valid target. Shifting the
    complement of U to eigenvalue ``-3`` (below every eigenvalue of S on U, ``||S||_2 <= 1``)
    keeps the top-``dim`` eigenvectors inside U.
    """
    K = A.shape[0]
    An = A / jnp.maximum(jnp.linalg.norm(A), jnp.finfo(A.dtype).tiny)
    P, T_full = _etf_target(cm, k_eff)  # P is the orthogonal projector onto U
    S = P @ (0.5 * (An + An.T)) @ P
    S = S - 3.0 * (jnp.eye(K, dtype=A.dtype) - P)
    _, vecs = linalg.eigh(S)
    dim = jnp.asarray(dim)
    keep = (jnp.arange(K, dtype=dim.dtype) >= K - dim).astype(A.dtype)  # top-`dim` eigenvectors (ascending order)
    PV = (vecs * keep[None, :]) @ vecs.T
    T_low = PV / jnp.sqrt(jnp.maximum(dim, 1).astype(A.dtype))
    T = jnp.where(jnp.asarray(dim, A.dtype) < k_eff - 1, T_low, T_full)
    return jnp.linalg.norm(An - T)


def cosine_margins(W, H, Y, *, sample_mask=None, class_mask=None):
    """Cosine margin of every sample: cos(θ_{own}) − max_{j≠own} cos(θ_j); ``(N,)``.

    ``cos θ_{k,i,j} = <w^j − w_G, h_{k,i} − h_G> / (||w^j − w_G|| ||h_{k,i} − h_G||)``.
    Padded samples get ``+inf`` so that ``min`` ignores them.
    """
    sm, cm = _masks(H, Y, sample_mask, class_mask)
    k_eff = cm.sum()
    _, hG, _ = class_means(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    wG = (cm @ W) / k_eff
    Wc = (W - wG[None, :]) * cm[:, None]
    Hc = H - hG[:, None]
    tiny = jnp.finfo(H.dtype).tiny
    Wn = Wc / jnp.maximum(jnp.linalg.norm(Wc, axis=1, keepdims=True), tiny)
    Hn = Hc / jnp.maximum(jnp.linalg.norm(Hc, axis=0, keepdims=True), tiny)
    cos = Wn @ Hn  # (K, N)
    Yb = Y > 0
    own = jnp.sum(jnp.where(Yb, cos, 0.0), axis=0)
    other = jnp.max(jnp.where(Yb | (cm[:, None] == 0), -jnp.inf, cos), axis=0)
    margin = own - other
    return jnp.where(sm > 0, margin, jnp.inf)


def numerical_rank_of_grams(grams, cm, k_eff):
    """``(1/K) Σ_k ‖H_k‖_*² / ‖H_k‖_F²`` from the ``(K, d, d)`` class Grams ``H_k H_kᵀ`` (``cm``:
    class mask, ``k_eff`` real classes)."""
    d = grams.shape[-1]
    ev = linalg.eigvalsh(grams)
    # Eigenvalues below the Gram's rounding level are zero (else sqrt(1e-16) = 1e-8 leaks in).
    ev = jnp.where(ev > jnp.max(ev, axis=1, keepdims=True) * d * jnp.finfo(grams.dtype).eps * 10, ev, 0.0)
    nuc = jnp.sum(jnp.sqrt(ev), axis=1)
    fro2 = jnp.sum(ev, axis=1)
    ranks = jnp.where(fro2 > 0, nuc**2 / jnp.where(fro2 > 0, fro2, 1.0), 0.0)
    return jnp.sum(ranks * cm) / k_eff


def nc_metrics(W, H, b, Y, *, sample_mask=None, class_mask=None, dim=None) -> NCMetrics:
    """All scalar NC metrics of one problem. ``b`` may be ``None`` (no bias)."""
    K, N = Y.shape
    d = H.shape[0]
    dt = H.dtype
    sm, cm = _masks(H, Y, sample_mask, class_mask)
    k_eff = cm.sum()
    n_eff = sm.sum()
    dim = jnp.asarray(d if dim is None else dim)
    Yf = Y.astype(dt) * sm[None, :] * cm[:, None]
    labels = jnp.argmax(Y, axis=0)

    means, hG, counts = class_means(H, Y, sample_mask=sample_mask, class_mask=class_mask)
    Hbar = (means - hG[:, None]) * cm[None, :]  # (d, K) centred class means
    # Within-class deviations X (d, N); padded samples contribute 0.
    X = (H - means @ Yf) * sm[None, :]
    Sigma_B = (Hbar @ Hbar.T) / k_eff
    s, U = linalg.eigh(Sigma_B)
    eps = jnp.finfo(dt).eps
    tol = jnp.max(jnp.abs(s)) * d * eps * 10
    proj = jnp.sum((U.T @ X) ** 2, axis=1) / n_eff  # u_i^T Sigma_W u_i >= 0 by construction
    nc1 = jnp.sum(jnp.where(s > tol, proj / jnp.where(s > tol, s, 1.0), 0.0)) / k_eff

    Wm = W * cm[:, None]
    nc2 = _etf_distance(Wm @ Wm.T, cm, k_eff, dim)
    nc3 = _etf_distance(Wm @ Hbar, cm, k_eff, dim)

    # NC4: classifier decision vs nearest class mean.
    logits = Wm @ H + (0.0 if b is None else (b * cm)[:, None])
    logits = jnp.where(cm[:, None] > 0, logits, -jnp.inf)
    pred = jnp.argmax(logits, axis=0)
    # Squared distances to the class means, (K, N), without a (d, K, N) intermediate.
    dist = jnp.sum(H**2, axis=0)[None, :] - 2.0 * (means.T @ H) + jnp.sum(means**2, axis=0)[:, None]
    dist = jnp.where(cm[:, None] > 0, dist, jnp.inf)
    ncc = jnp.argmin(dist, axis=0)
    nc4 = jnp.sum((pred != ncc).astype(sm.dtype) * sm) / n_eff

    # Numerical rank (1/K) sum_k ||H_k||_*^2 / ||H_k||_F^2 via the d x d Gram of each class.
    # One class at a time: O(d N) memory instead of a (K, d, N) intermediate.
    grams = jax.lax.map(lambda y: (H * y[None, :]) @ H.T, Yf)
    numerical_rank = numerical_rank_of_grams(grams, cm, k_eff)

    margins = cosine_margins(W, H, Y, sample_mask=sample_mask, class_mask=class_mask)
    del labels, counts
    return NCMetrics(nc1, nc2, nc3, nc4, numerical_rank, jnp.min(margins))


def sorted_cosine_margins(W, H, Y, *, sample_mask=None, class_mask=None):
    """The cosine-margin distribution, sorted ascending (padded samples last, as +inf)."""
    return jnp.sort(cosine_margins(W, H, Y, sample_mask=sample_mask, class_mask=class_mask))
