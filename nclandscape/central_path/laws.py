"""Exact ω-laws of the three central-path flows (THEORY_central_path.md §3; λ = 0, balanced, bias).

Time is gradient-flow time of f (1/(2N) normalisation), N = K n. Each singular value ω_j moves by
its own scalar ODE:

- ``projected`` (tangent-projected flow on the whitened manifold; within-class deviations frozen):
  dω/dt = K ω / (N (K + ω²)²)  ⇔  n (K² log ω + K ω² + ω⁴/4) = t + a_j;
- ``renormalized`` (whiten at every instant, the δt → 0 limit of "Euler step, then whiten"):
  dω/dt = ω / (N (K + ω²))     ⇔  N (K log ω + ω²/2) = t + a_j;
- ``plain`` (gradient flow of F, no renormalisation, from a whitened start):
  ω_j(t) = ω_j(0) exp(t / (N (K + ω_j(0)²))).

The first two are ``c₁ log ω + c₂ ω² + c₃ ω⁴ = t + a`` with the coefficients of
:func:`law_coefficients`, inverted by bisection on log ω plus Newton polish, a fixed number of
iterations (jittable). ω_j(0) = 0 stays 0 under every flow.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nclandscape.errors import ConfigError

FLOW_KINDS = ("projected", "renormalized", "plain")
BISECTION_ITERS = 200  # halves a bracket of width ≤ 1e12 below float64 resolution
NEWTON_ITERS = 3


def check_flow(kind: str) -> str:
    if kind not in FLOW_KINDS:
        raise ConfigError(f"flow={kind!r} is not allowed: choose one of {', '.join(FLOW_KINDS)}")
    return kind


def law_coefficients(kind: str, *, K, n):
    """``(c₁, c₂, c₃)`` of ``c₁ log ω + c₂ ω² + c₃ ω⁴ = t + a`` (projected or renormalized)."""
    check_flow(kind)
    N = K * n
    if kind == "projected":
        return (n * K**2, n * K, n / 4.0)
    if kind == "renormalized":
        return (N * K, N / 2.0, 0.0)
    raise ConfigError("flow='plain' has an explicit law (exponential growth), not an implicit one")


def _potential(u, c):
    c1, c2, c3 = c
    return c1 * u + c2 * jnp.exp(2 * u) + c3 * jnp.exp(4 * u)


def _dpotential(u, c):
    c1, c2, c3 = c
    return c1 + 2 * c2 * jnp.exp(2 * u) + 4 * c3 * jnp.exp(4 * u)


def invert_law(target, c):
    """log ω solving ``c₁ u + c₂ e^{2u} + c₃ e^{4u} = target`` (strictly increasing in u; c₁ > 0)."""
    c1, c2, c3 = c
    lo = jnp.minimum(0.0, (target - c2 - c3) / c1) - 1.0  # potential(lo) < target
    hi = jnp.maximum(target, 0.0) / c1 + 1.0  # potential(hi) > target

    def bisect(_, br):
        lo, hi = br
        mid = 0.5 * (lo + hi)
        below = _potential(mid, c) < target
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, BISECTION_ITERS, bisect, (lo, hi))
    u = 0.5 * (lo + hi)

    def newton(_, u):
        return u - (_potential(u, c) - target) / _dpotential(u, c)

    return jax.lax.fori_loop(0, NEWTON_ITERS, newton, u)


def omega_law(kind: str, t, omega0, *, K: int, n: int):
    """Predicted ω(t) of flow ``kind`` from ``omega0 (K−1,)`` at times ``t`` (scalar or ``(P,)``).

    Returns ``t.shape + omega0.shape``, each row sorted descending like
    :func:`~nclandscape.central_path.snr_singular_values` (under ``plain`` the smallest ω grows
    fastest, so the order of the singular values can change). ``plain`` needs a whitened start
    (Σ_W(0) = I, μ = 0).
    """
    check_flow(kind)
    t = jnp.asarray(t)
    omega0 = jnp.asarray(omega0)
    dt = jnp.result_type(t.dtype, omega0.dtype, float)
    t = t.astype(dt)[..., None]
    w0 = omega0.astype(dt)
    pos = w0 > 0
    w0s = jnp.where(pos, w0, 1.0)
    if kind == "plain":
        out = w0s * jnp.exp(t / (K * n * (K + w0s**2)))
    else:
        c = tuple(jnp.asarray(x, dt) for x in law_coefficients(kind, K=K, n=n))
        a = _potential(jnp.log(w0s), c)
        out = jnp.exp(invert_law(t + a, c))
    return -jnp.sort(-jnp.where(pos, out, 0.0), axis=-1)


def omega_rate(kind: str, omega, *, K: int, n: int, omega0=None):
    """dω/dt of flow ``kind`` at ``omega`` (``plain`` also needs ``omega0``)."""
    check_flow(kind)
    N = K * n
    if kind == "projected":
        return K * omega / (N * (K + omega**2) ** 2)
    if kind == "renormalized":
        return omega / (N * (K + omega**2))
    return omega / (N * (K + omega0**2))
