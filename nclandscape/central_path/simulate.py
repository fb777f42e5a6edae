"""Simulate a central-path flow on the UFM (λ = 0) and compare it with its exact ω-law.

``simulate_flow`` is what ``nclandscape central-path`` prints and what experiment (b) runs; its
result is a JSON-ready dict. Measured quantities come from the integrated features: ω from the
SNR matrix, F from the least-squares classifier, NC1–NC3 from ``nclandscape.metrics`` with that
classifier. For the projected and renormalized flows (which stay on the whitened manifold) the
closed forms in the law's ω are given too (``F_law``, ``nc1_law``, ``nc2_law``, ``nc3_law``).
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.central_path.decomposition import ls_classifier
from nclandscape.central_path.flows import flow_metrics, flow_omega, integrate_flow, whitened_start
from nclandscape.central_path.laws import check_flow, omega_law
from nclandscape.central_path.snr import central_path_loss, nc_of_omega
from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics

# Default --t-max per flow, in units of N = K n: ω grows ≥ 3× from a typical whitened start.
DEFAULT_T_MAX_PER_SAMPLE = {"projected": 250.0, "renormalized": 50.0, "plain": 12.5}


def default_t_max(kind: str, K: int, n: int) -> float:
    return DEFAULT_T_MAX_PER_SAMPLE[check_flow(kind)] * K * n


def check_simulation(K, n, d, t_max, points):
    if K < 2:
        raise ConfigError(f"--K {K}: the number of classes must be >= 2")
    if n < 2:
        raise ConfigError(f"--n {n}: the flows need n >= 2 samples per class (a nonsingular Sigma_W)")
    if d < 1:
        raise ConfigError(f"--d {d}: the feature dimension must be >= 1")
    if not (t_max > 0 and np.isfinite(t_max)):
        raise ConfigError(f"--t-max {t_max}: give a finite time > 0")
    if points < 2:
        raise ConfigError(f"--points {points}: give at least 2 time points")


def max_relative_error(omega, law):
    """max |ω − ω_law| / ω_law over entries with ω_law > 0."""
    omega, law = np.asarray(omega), np.asarray(law)
    pos = law > 0
    return float(np.max(np.abs(omega - law)[pos] / law[pos])) if pos.any() else 0.0


def simulate_flow(kind: str, *, K: int, n: int, d: int, t_max: float | None = None, points: int = 50,
                  seed: int = 0) -> dict:
    """Integrate flow ``kind`` from a seeded whitened start on the full features (float64)."""
    check_flow(kind)
    t_max = default_t_max(kind, K, n) if t_max is None else float(t_max)
    check_simulation(K, n, d, t_max, points)
    with jax.enable_x64(True):
        H, Y = whitened_start(jax.random.PRNGKey(seed), K, n, d, dtype=jnp.float64)
        ts = jnp.linspace(0.0, t_max, points, dtype=jnp.float64)
        t0 = time.perf_counter()
        Hs = jax.block_until_ready(integrate_flow(kind, H, ts, Y))
        elapsed = time.perf_counter() - t0
        omega = np.asarray(jax.vmap(lambda h: flow_omega(h, Y, reduced=False))(Hs))
        law = np.asarray(omega_law(kind, ts, omega[0], K=K, n=n))
        F = np.asarray(jax.vmap(lambda h: flow_metrics(h, Y, reduced=False).F)(Hs))

        def nc(h):
            ls = ls_classifier(h, Y, lam_W=0.0, lam_b=0.0)
            return nc_metrics(ls.W, h, ls.b, Y)

        m = jax.vmap(nc)(Hs)
        out = {
            "flow": kind, "K": K, "n": n, "d": d, "seed": seed, "t_max": t_max, "points": points,
            "t": np.asarray(ts).tolist(), "omega": omega.tolist(), "omega_law": law.tolist(),
            "max_rel_err": max_relative_error(omega, law),
            "F": F.tolist(), "nc1": np.asarray(m.nc1).tolist(), "nc2": np.asarray(m.nc2).tolist(),
            "nc3": np.asarray(m.nc3).tolist(),
            "F_law": np.asarray(central_path_loss(jnp.asarray(law), K=K)).tolist(),
            "integrator": "jax.experimental.ode.odeint (Dormand-Prince 5(4)), rtol = atol = 1e-12",
            "time_s": elapsed,
        }
        if kind != "plain" and d >= K - 1:
            p = nc_of_omega(jnp.asarray(law), K=K)
            out.update(nc1_law=np.asarray(p.nc1).tolist(), nc2_law=np.asarray(p.nc2).tolist(),
                       nc3_law=np.asarray(p.nc3).tolist())
    return out
