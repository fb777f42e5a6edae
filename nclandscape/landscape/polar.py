"""Polar landscapes of one feature with the classifier fixed (MSE paper §3.3, App. C; THEORY.md §7).

A class-``k`` feature is placed in the plane spanned by two classifier rows ``w^k`` and ``w^k'``:

    h(s, θ) = s (cos θ e_1 + sin θ e_2),   e_1 = w^k/‖w^k‖,   e_2 ∝ w^k' − ⟨w^k', e_1⟩ e_1,

so ``s = ‖h‖`` and ``θ`` is the angle (radians) from ``w^k`` towards ``w^k'``. The value drawn is
the real per-sample objective of that feature, ``ℓ(W h, e_k) + λ_H/2 ‖h‖²`` with ``ℓ`` the
per-sample loss of a registered loss (:data:`nclandscape.objectives.LOSSES`; no closed form is used:
THEORY.md §7's formulas are what the tests compare against). With ``b = 0`` and one sample this is
exactly the UFM objective as a function of that sample's feature (up to the constant ``λ_W/2 ‖W‖²``
and the other samples' terms).

Because ``W h`` is linear in ``h`` and ``h`` stays in the plane, the logits are ``A (s cos θ, s sin θ)``
with ``A = W [e_1 e_2]`` (``K × 2``), computed once from the real ``W``; a grid point then costs
``O(K)`` whatever ``d`` is.

``K → ∞`` (:func:`limit_plane`): for a unit-row simplex ETF the logit of ``w^k'`` tends to
``s sin θ``, the other ``K − 2`` logits each tend to 0 as ``O(s/K)`` and the squares of all of them
together to 0 as ``s²/(K − 1)``; so the MSE landscape tends to the per-sample loss of the
two-class logit vector ``(s cos θ, s sin θ)``. Cross-entropy has no limit (it grows like
``log(K − 1)``); what converges is ``CE − log(K − 1)``, whose limit is ``−s cos θ``
(:func:`polar_loss` uses that centred form, the registry entry's ``limit``, for ``K = ∞``; the
landscape command says so in ``offset``).

Hyper-parameters (``α``, ``M``, ``λ_H``) come in an :class:`~nclandscape.ufm.HParams` of arrays, so
one compiled program serves every value (``λ_W`` and ``λ_b`` are not used here).
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.objectives import LOSSES, loss_of
from nclandscape.ufm import HParams

POLAR_LOSSES = LOSSES  # every registered loss (the registry itself, read live)


class Plane(NamedTuple):
    """The classifier restricted to the plane of the feature.

    ``A``: ``(K, 2)`` logits of the in-plane unit vectors ``e_1, e_2`` (``A = W [e_1 e_2]``);
    ``y``: ``(K,)`` one-hot target of the feature's class; ``centred_ce``: ``()`` 1.0 for the
    ``K → ∞`` plane, where cross-entropy is replaced by its centred limit ``−z_k``.
    """

    A: jax.Array
    y: jax.Array
    centred_ce: jax.Array


class PolarGrid(NamedTuple):
    loss: jax.Array  # (S, T): loss[i, j] at s[i], theta[j]
    grad_s: jax.Array  # (S, T): ∂f/∂s
    grad_theta: jax.Array  # (S, T): ∂f/∂θ (per radian, as in the paper's eq. 34)


def simplex_etf(K: int, *, dtype=np.float64) -> np.ndarray:
    """A ``K × K`` simplex ETF with unit rows: ``√(K/(K−1)) (I − 1 1ᵀ/K)``, ⟨w^j, w^k⟩ = −1/(K−1)."""
    if not isinstance(K, (int, np.integer)) or K < 2:
        raise ConfigError(f"K={K!r}: the simplex ETF needs an integer K >= 2")
    return (math.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)).astype(dtype)


def plane_basis(W, k: int = 0, kp: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal ``(e_1, e_2)`` of span{w^k, w^k'} (Gram–Schmidt, float64 NumPy).

    When ``w^k'`` is parallel to ``w^k`` (K = 2: ``w^1 = −w^0``) the plane is completed by a unit
    vector orthogonal to every row of ``W`` (so it does not change any logit); this needs ``d`` larger
    than the rank of ``W``.
    """
    W = np.asarray(W, np.float64)
    K, d = W.shape
    if not (0 <= k < K and 0 <= kp < K and k != kp):
        raise ConfigError(f"k={k}, k'={kp}: give two different classes in 0..{K - 1}")
    nk = np.linalg.norm(W[k])
    if nk == 0:
        raise ConfigError(f"w^{k} = 0: the polar coordinates need a nonzero classifier row")
    e1 = W[k] / nk
    r = W[kp] - (W[kp] @ e1) * e1
    if np.linalg.norm(r) > 1e-12 * np.linalg.norm(W[kp]) and np.linalg.norm(r) > 0:
        return e1, r / np.linalg.norm(r)
    _, sv, Vt = np.linalg.svd(W)
    rank = int(np.sum(sv > 1e-12 * sv[0]))
    if rank >= d:
        raise ConfigError(f"w^{kp} is parallel to w^{k} and W has full column rank: no second in-plane direction")
    return e1, Vt[rank]


def make_plane(W, k: int = 0, kp: int = 1, *, dtype=None) -> Plane:
    """The :class:`Plane` of a class-``k`` feature for any fixed classifier ``W`` (``K × d``)."""
    dtype = dtype or jnp.zeros(()).dtype
    W = np.asarray(W, np.float64)
    e1, e2 = plane_basis(W, k, kp)
    A = W @ np.stack([e1, e2], axis=1)
    y = np.zeros(W.shape[0])
    y[k] = 1.0
    return Plane(jnp.asarray(A, dtype), jnp.asarray(y, dtype), jnp.asarray(0.0, dtype))


def etf_plane(K: int, *, dtype=None) -> Plane:
    """The plane of THEORY.md §7: ``W`` a unit-row simplex ETF, ``k = 0``, ``k' = 1``."""
    return make_plane(simplex_etf(K), 0, 1, dtype=dtype)


def limit_plane(*, dtype=None) -> Plane:
    """The ``K → ∞`` limit: logits ``(s cos θ, s sin θ)`` of classes ``k`` and ``k'`` (module doc)."""
    dtype = dtype or jnp.zeros(()).dtype
    return Plane(jnp.eye(2, dtype=dtype), jnp.asarray([1.0, 0.0], dtype), jnp.asarray(1.0, dtype))


def plane_for(K, *, dtype=None) -> Plane:
    """``etf_plane(K)`` for an integer ``K``, :func:`limit_plane` for ``K = math.inf``."""
    if isinstance(K, float) and math.isinf(K) and K > 0:
        return limit_plane(dtype=dtype)
    return etf_plane(K, dtype=dtype)


def check_loss(loss: str) -> str:
    loss_of(loss)
    return loss


def feature_loss(x, plane: Plane, hparams: HParams, *, loss: str):
    """Objective of the in-plane feature with coordinates ``x = (x_1, x_2)`` (``h = x_1 e_1 + x_2 e_2``)."""
    entry = loss_of(loss)
    z = (plane.A @ x)[:, None]
    y = plane.y[:, None]
    value = entry.per_sample(z, y, entry.restrict(hparams), None)[0]
    if entry.limit is not None:  # the K = inf plane: the centred limit (module docstring)
        value = jnp.where(plane.centred_ce > 0, entry.limit(z, y)[0], value)
    return value + 0.5 * hparams.lambda_H * jnp.sum(x**2)


def polar_loss(s, theta, plane: Plane, hparams: HParams, *, loss: str):
    """Objective of ``h(s, θ)``; scalar ``s``, ``theta``."""
    x = s * jnp.stack([jnp.cos(theta), jnp.sin(theta)])
    return feature_loss(x, plane, hparams, loss=loss)


def polar_value_and_grad(s, theta, plane: Plane, hparams: HParams, *, loss: str):
    """``(f, ∂f/∂s, ∂f/∂θ)`` at one point, by autodiff of the real objective."""
    f, (gs, gt) = jax.value_and_grad(polar_loss, argnums=(0, 1))(s, theta, plane, hparams, loss=loss)
    return f, gs, gt


def polar_landscape(s, theta, plane: Plane, hparams: HParams, *, loss: str, batch_size: int | None = 32) -> PolarGrid:
    """Loss and gradient field on the grid ``s × theta`` (``(S,)`` and ``(T,)`` arrays), jittable.

    Vmapped over ``theta``; rows of ``s`` go through ``lax.map`` in vmapped batches of
    ``batch_size`` so that memory stays ``O(batch_size · T · K)``.
    """
    check_loss(loss)
    s = jnp.asarray(s)
    theta = jnp.asarray(theta, s.dtype)

    def row(si):
        return jax.vmap(lambda t: polar_value_and_grad(si, t, plane, hparams, loss=loss))(theta)

    f, gs, gt = jax.lax.map(row, s, batch_size=batch_size)
    return PolarGrid(f, gs, gt)


@partial(jax.jit, static_argnames=("loss", "iters"))
def polar_minimizer_on_ray(plane: Plane, hparams: HParams, *, loss: str, theta=0.0, iters: int = 200):
    """The minimiser ``s*`` of ``f(·, θ)`` along one ray (``θ = 0``: the direction of ``w^k``), jitted.

    Safeguarded Newton on ``∂f/∂s`` by autodiff, from ``s = 1``: MSE-type losses are quadratic in
    ``s`` (one step is exact); CE is convex in ``s`` along a ray, strictly with ``λ_H > 0``. Without
    weight decay CE has no finite minimiser and the iterate just grows (``iters`` bounds it).
    """
    check_loss(loss)
    theta = jnp.asarray(theta, plane.A.dtype)
    d1 = jax.grad(lambda s: polar_loss(s, theta, plane, hparams, loss=loss))
    d2 = jax.grad(d1)
    s0 = jnp.asarray(1.0, plane.A.dtype)

    def body(_, s):
        g, h = d1(s), d2(s)
        step = jnp.where(h > 0, g / h, -jnp.sign(g))
        return jnp.maximum(s - step, 0.0)

    return jax.lax.fori_loop(0, iters, body, s0)
