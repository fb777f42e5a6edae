"""The three central-path flows (THEORY_central_path.md §3), on full features or the class-reduced state.

All three run with λ_W = λ_b = λ_H = 0, balanced classes and a free bias; the classifier is at
every instant the least-squares one of the current features, ``W = (1/K) M̄ᵀ Σ_T⁻¹``,
``b = 1_K/K − W μ``, and time is gradient-flow time of f. With ``P = I − 11ᵀ/K``:

- ``projected``: within-class deviations frozen, class means follow the class-mean part of −∇F:
  dM̄/dt = −(1/N) Wᵀ (W M̄ − P). On whitened features (Σ_W = I, μ = 0) this is the projection of
  −∇F onto the tangent space of the whitened manifold, and its ω-law has the paper's
  c₁ log ω + c₂ ω² + c₃ ω⁴ form.
- ``renormalized``: the δt → 0 limit of "Euler step, then re-whiten" from whitened features:
  deviations frozen, dM̄/dt = (1/N) Wᵀ P (the within-class shrinkage is undone by the whitening).
- ``plain``: gradient flow of F on every sample, dH/dt = −∇_H F; deviations z follow
  dz/dt = −(1/N) WᵀW z, so the within-class scatter S = Σ zzᵀ moves too.

States: full features ``H (d, N)`` with one-hot ``Y (K, N)`` (samples grouped by class), or
:class:`ReducedFlowState` ``(Mbar (d, K), S (d, d))`` with ``n`` (cost independent of n). Both
give the same ω(t). :func:`integrate_flow` uses ``jax.experimental.ode.odeint`` (adaptive
Dormand–Prince 5(4), part of JAX); :func:`central_path_flow` gives a fixed-step RK4 ``step``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from nclandscape.central_path.laws import check_flow
from nclandscape.central_path.snr import snr_from_stats
from nclandscape.errors import ConfigError

# Integrator tolerances of integrate_flow: ω(t) to ~1e-10 relative on the experiments' ranges.
ODE_RTOL = 1e-12
ODE_ATOL = 1e-12
ODE_MXSTEP = 1_000_000


class ReducedFlowState(NamedTuple):
    Mbar: jax.Array  # (d, K) centred class means
    S: jax.Array  # (d, d) within-class scatter Σ_{k,i} z zᵀ (= N Σ_W)


class FlowMetrics(NamedTuple):
    F: jax.Array  # profile objective F = ½ tr(W Σ_W Wᵀ) + (1/2K)||W M̄ − P||²


class Flow(NamedTuple):
    kind: str
    field: Callable  # (state, data) -> d state / dt
    step: Callable  # (state, dt, data) -> (state, FlowMetrics): one classical RK4 step


def _centering(K, dt):
    return jnp.eye(K, dtype=dt) - jnp.full((K, K), 1.0 / K, dt)


def _ls_centred(Mbar, Sigma_W):
    """W_LS = (1/K) M̄ᵀ Σ_T⁻¹ with Σ_T = Σ_W + M̄M̄ᵀ/K (λ = 0, balanced)."""
    K = Mbar.shape[1]
    Sigma_T = Sigma_W + Mbar @ Mbar.T / K
    return jnp.linalg.solve(Sigma_T, Mbar).T / K


def _profile(W, Mbar, Sigma_W):
    K = Mbar.shape[1]
    R = W @ Mbar - _centering(K, Mbar.dtype)
    return 0.5 * jnp.sum((W @ Sigma_W) * W) + 0.5 * jnp.sum(R**2) / K


def _mean_velocity(kind, W, Mbar, N):
    P = _centering(Mbar.shape[1], Mbar.dtype)
    if kind == "renormalized":
        return W.T @ P / N
    return -W.T @ (W @ Mbar - P) / N


def full_stats(H, Y):
    """``(means (d, K), Mbar (d, K), Sigma_W (d, d))`` of balanced full features."""
    K, N = Y.shape
    Yf = Y.astype(H.dtype)
    counts = Yf.sum(axis=1)
    means = (H @ Yf.T) / counts[None, :]
    Mbar = means - means.mean(axis=1, keepdims=True)
    X = H - means @ Yf
    return means, Mbar, X @ X.T / N


def full_field(kind: str, H, Y):
    """dH/dt of flow ``kind`` at features ``H (d, N)``."""
    check_flow(kind)
    N = Y.shape[1]
    means, Mbar, Sigma_W = full_stats(H, Y)
    W = _ls_centred(Mbar, Sigma_W)
    if kind == "plain":
        mu = means.mean(axis=1)
        P = _centering(Y.shape[0], H.dtype)
        return -W.T @ (W @ (H - mu[:, None]) - P @ Y.astype(H.dtype)) / N
    return _mean_velocity(kind, W, Mbar, N) @ Y.astype(H.dtype)


def reduced_field(kind: str, state: ReducedFlowState, n) -> ReducedFlowState:
    """d(M̄, S)/dt of flow ``kind`` on the class-reduced state (n samples per class)."""
    check_flow(kind)
    K = state.Mbar.shape[1]
    N = K * n
    Sigma_W = state.S / N
    W = _ls_centred(state.Mbar, Sigma_W)
    dM = _mean_velocity(kind, W, state.Mbar, N)
    if kind == "plain":
        WtW = W.T @ W
        dS = -(WtW @ state.S + state.S @ WtW) / N
    else:
        dS = jnp.zeros_like(state.S)
    return ReducedFlowState(dM, dS)


def reduce_state(H, Y) -> ReducedFlowState:
    """The class-reduced state of full features."""
    _, Mbar, Sigma_W = full_stats(H, Y)
    return ReducedFlowState(Mbar, Sigma_W * Y.shape[1])


def flow_metrics(state, data, *, reduced: bool) -> FlowMetrics:
    if reduced:
        Mbar, Sigma_W = state.Mbar, state.S / (state.Mbar.shape[1] * data)
    else:
        _, Mbar, Sigma_W = full_stats(state, data)
    return FlowMetrics(F=_profile(_ls_centred(Mbar, Sigma_W), Mbar, Sigma_W))


def flow_omega(state, data, *, reduced: bool, warn=False):
    """SNR singular values ω (K−1,) of a flow state (``data``: ``Y`` full, ``n`` reduced)."""
    if reduced:
        K = state.Mbar.shape[1]
        Sigma_W = state.S / (K * data)
        Mbar = state.Mbar
    else:
        K = data.shape[0]
        _, Mbar, Sigma_W = full_stats(state, data)
    w = jnp.full((K,), 1.0 / K, Mbar.dtype)
    return snr_from_stats(Mbar, w, Sigma_W, warn=warn)


def _rk4(field, y, h):
    add = lambda a, b, s: jax.tree_util.tree_map(lambda x, z: x + s * z, a, b)  # noqa: E731
    k1 = field(y)
    k2 = field(add(y, k1, h / 2))
    k3 = field(add(y, k2, h / 2))
    k4 = field(add(y, k3, h))
    return jax.tree_util.tree_map(lambda x, a, b, c, d: x + h / 6 * (a + 2 * b + 2 * c + d), y, k1, k2, k3, k4)


def central_path_flow(kind: str, *, reduced: bool = False) -> Flow:
    """Flow ``kind`` as ``Flow(kind, field, step)``; ``data`` is ``Y (K, N)`` (full) or ``n`` (reduced).

    ``step(state, dt, data) -> (state, FlowMetrics)`` is one RK4 step (metrics of the new state).
    """
    check_flow(kind)
    field = (lambda s, n: reduced_field(kind, s, n)) if reduced else (lambda H, Y: full_field(kind, H, Y))

    def step(state, dt, data):
        new = _rk4(lambda s: field(s, data), state, dt)
        return new, flow_metrics(new, data, reduced=reduced)

    return Flow(kind, field, step)


def integrate_flow(kind: str, state, ts, data, *, reduced: bool = False, rtol=ODE_RTOL, atol=ODE_ATOL):
    """States of flow ``kind`` at times ``ts (P,)`` (``ts[0]`` is the start), adaptive Dormand–Prince."""
    from jax.experimental.ode import odeint

    flow = central_path_flow(kind, reduced=reduced)
    return odeint(lambda y, t, d: flow.field(y, d), state, jnp.asarray(ts), data, rtol=rtol, atol=atol,
                  mxstep=ODE_MXSTEP)


def whitened_start(key, K: int, n: int, d: int, *, dtype=None):
    """Seeded random features ``H (d, Kn)`` with Σ_W = I and μ = 0 exactly (classes grouped), and ``Y``."""
    if d > K * (n - 1):
        raise ConfigError(f"d={d} > K (n - 1) = {K * (n - 1)}: Sigma_W is singular and the SNR matrix is "
                          "undefined; use n >= d/K + 1 samples per class or a smaller d")
    dtype = dtype or jnp.zeros(()).dtype
    N = K * n
    H = jax.random.normal(key, (d, N), dtype)
    Y = jnp.repeat(jnp.eye(K, dtype=dtype), n, axis=1)
    _, _, Sigma_W = full_stats(H, Y)
    s, U = jnp.linalg.eigh(Sigma_W)
    H = (U / jnp.sqrt(s)[None, :]) @ U.T @ (H - H.mean(axis=1, keepdims=True))
    return H, Y
