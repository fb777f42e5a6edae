"""Points of a UFM problem at which the landscape is examined, and the ``--at`` strings that name
them (commands ``hessian``, ``spectrum`` and ``slice``).

``--at`` forms (:data:`AT_FORMS`):

* ``global`` — the closed-form global minimiser: vanilla MSE, any d (THEORY.md §2), or CE with
  d ≥ K − 1 (§2b). Balanced classes only; rescaled MSE has none (its global optimality is open).
* ``solve`` — the solver's output (:func:`~nclandscape.solve.solve_problem`) from the random start
  :func:`random_point` (``seed``, ``scale``), with ``optimizer`` for at most ``steps`` steps.
* ``saddle:I,J,...`` — the no-bias critical point of vanilla MSE keeping the singular components
  (classes) I, J, ... (0-based, THEORY.md §3); ``saddle:`` keeps none (the zero point). A strict
  saddle whenever fewer than min(d, K) components are kept.
* ``critical:I,J,...`` — a critical point of (rescaled) MSE with or without bias, found by the
  Newton root-finder :func:`newton_critical_point` from :func:`bias_family_start` (components of
  the orthonormal basis of 1^⊥, 0..K − 2).

:func:`point_at` returns a :class:`Point` ``(params, predicted_min_eig, info)``. Every default is
one of the constants below.

Why every critical point of MSE is found on the reduced problem: at a critical point with
λ_H > 0, ``(Wᵀ Ω_k W / N + λ_H I) h_i = Wᵀ Ω_k (M y_i − b) / N`` has a unique solution per class,
so every critical point of (rescaled) MSE is class-collapsed and is a critical point of the
reduced objective ``g(W, G, b)`` of :mod:`~nclandscape.hessian.structured` (and conversely, since
the gradient at a collapsed point lies in the collapsed subspace).
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from nclandscape import linalg, theory
from nclandscape.errors import ConfigError
from nclandscape.objectives import MSE_FAMILY, loss_of
from nclandscape.optimizers import DEFAULT_OPTIMIZER
from nclandscape.hessian import dense as _dense
from nclandscape.hessian import structured as _st
from nclandscape.ufm import HParams, Params, UFMData, init_params, mask_params

# --------------------------------------------------------------------------- defaults (decided once)

DEFAULT_AT = "global"
AT_FORMS = ("global", "solve", "saddle:I,J,...", "critical:I,J,...")
AT_HELP = (
    "global (closed-form minimiser) | solve (the solver's output) | saddle:I,J,... (no-bias MSE "
    "critical point keeping classes I,J,...; 0-based; 'saddle:' = the zero point) | critical:I,J,... "
    "(a critical point with bias, Newton from that family) (default global)"
)
SOLVE_OPTIMIZER = DEFAULT_OPTIMIZER
SOLVE_STEPS = 2000  # at most; the solver stops at its tolerance (usually long before)
SOLVE_SEED = 0
SOLVE_SCALE = 1.0  # N(0, scale²) entries of the random start
NEWTON_MAX_STEPS = 100
NEWTON_TOL = {"float64": 1e-13, "float32": 1e-6}  # on ‖∇g‖ of the reduced problem
# Newton's pseudo-inverse leaves out eigenvalues below this fraction of the largest |eigenvalue|
# (the exact zeros of the rotation symmetry of the features).
NEWTON_PINV_RTOL = 1e-10
NEWTON_STEP_SIZES = 12  # t ∈ {1, 1/2, …, 2^-(NEWTON_STEP_SIZES − 1)}

_ALLOWED = "choose global, solve, saddle:I,J,... or critical:I,J,..."
_INDEX = re.compile(r"[0-9]+")


class At(NamedTuple):
    """A parsed ``--at`` string."""

    kind: str  # "global" | "solve" | "saddle" | "critical"
    S: tuple  # 0-based component indices (saddle, critical); () otherwise


class Point(NamedTuple):
    """A point of a problem: its parameters, THEORY.md §3's predicted smallest Hessian eigenvalue
    where known (``saddle``; else None), and a JSON-ready ``info`` dict (``at`` and, by kind,
    ``f_star``; ``S``, ``f_critical``, ``predicted_min_eig``, ``is_global``; ``solve_status``,
    ``solve_steps``, ``grad_norm``; ``S``, ``newton_steps``, ``newton_grad_norm``)."""

    params: Params
    predicted_min_eig: Optional[float]
    info: dict


# --------------------------------------------------------------------------- --at strings


def parse_at(at: str) -> At:
    """``global`` | ``solve`` | ``saddle:I,J,...`` | ``critical:I,J,...`` → :class:`At`.

    Indices are distinct 0-based integers; an empty list (``saddle:``, or ``saddle``) keeps no
    component. Raises ConfigError saying what to write instead.
    """
    if not isinstance(at, str):
        raise ConfigError(f"--at {at!r} is not allowed: {_ALLOWED}")
    if at in ("global", "solve"):
        return At(at, ())
    kind, _, body = at.partition(":")
    if kind not in ("saddle", "critical"):
        raise ConfigError(f"--at {at!r} is not allowed: {_ALLOWED}")
    pieces = [x.strip() for x in body.split(",")]
    if any(x and not _INDEX.fullmatch(x) for x in pieces):
        raise ConfigError(f"--at {at!r}: write {kind}:I,J,... with 0-based integer indices, e.g. {kind}:0,1")
    S = tuple(int(x) for x in pieces if x)
    dup = sorted({i for i in S if S.count(i) > 1})
    if dup:
        raise ConfigError(f"--at {at!r}: index {dup[0]} is given twice; list each component once")
    return At(kind, S)


def _balanced(problem):
    """The same balanced problem stated with ``n`` = its class size (``class_sizes`` dropped), as
    the closed forms read it."""
    import dataclasses

    return dataclasses.replace(problem, n=_per_class(problem), class_sizes=None)


def _per_class(problem) -> int:
    """Samples per class of a balanced problem (equal ``class_sizes`` count, not ``n``)."""
    return problem.class_sizes[0] if problem.class_sizes else problem.n


def check_at(problem, at: str) -> At:
    """:func:`parse_at`, then every check of ``at`` against ``problem`` that needs no computation
    (loss, bias, balanced classes, index ranges). Raises ConfigError saying what to change."""
    kind, S = parse_at(at)
    p = problem
    if kind == "global":
        if not p.balanced:
            raise ConfigError(f"--at {at}: the closed forms cover balanced classes only (drop --class-sizes, or use --at solve)")
        entry = loss_of(p.loss)
        if entry.closed_form is None:
            raise ConfigError(f"--at global: loss {p.loss} has no closed-form minimiser "
                              f"({entry.no_closed_form or 'none is known'}); use --at solve")
    elif kind == "saddle":
        cf = loss_of(p.loss).closed_form
        if cf is None or cf.critical_points is None or p.bias or not p.balanced:
            raise ConfigError(f"--at {at}: saddle:I,J,... is the no-bias family of vanilla MSE: use --loss mse --no-bias (balanced classes)")
        if any(i >= p.K for i in S):
            raise ConfigError(f"--at {at}: saddle components are classes, 0..{p.K - 1}")
    elif kind == "critical":
        if loss_of(p.loss).family != MSE_FAMILY:
            raise ConfigError(f"--at {at}: critical:I,J,... starts from the MSE family: use --loss mse or rescaled_mse")
        if not p.balanced:
            raise ConfigError(f"--at {at}: critical:I,J,... starts from the balanced family: drop --class-sizes")
        if any(i >= p.K - 1 for i in S):
            raise ConfigError(f"--at {at}: critical components index the basis of 1^perp, 0..{p.K - 2}")
    if len(S) > p.d:
        raise ConfigError(f"--at {at}: {len(S)} components but d={p.d}: keep at most d")
    return At(kind, S)


# --------------------------------------------------------------------------- closed-form points


def _dtype(dtype):
    """``dtype``, or JAX's default float (float64 under ``jax_enable_x64``, else float32)."""
    return jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype


def _params(W, H, b, dtype) -> Params:
    dt = _dtype(dtype)
    return Params(jnp.asarray(W, dt), jnp.asarray(H, dt), jnp.asarray(b, dt))


def global_point(problem, dtype=None) -> Params:
    """The closed-form global minimiser of vanilla MSE (any d) or CE (d ≥ K − 1)."""
    check_at(problem, "global")
    W, H, b = loss_of(problem.loss).closed_form.minimizer(_balanced(problem))
    return _params(W, H, b, dtype)


def global_value(problem) -> float:
    """The closed-form global minimum f* at :func:`global_point`."""
    check_at(problem, "global")
    return loss_of(problem.loss).closed_form.summary(_balanced(problem))["f_star"]


def _saddle(problem, S) -> "theory.CriticalPoint":
    check_at(problem, "saddle:" + ",".join(map(str, S)))
    p = problem
    return loss_of(p.loss).closed_form.critical_points(_balanced(p), S)


def saddle_point(problem, S, dtype=None):
    """``(Params, predicted_min_eig or None, is_global)`` of the no-bias critical point keeping
    the singular components ``S`` (THEORY.md §3)."""
    cp = _saddle(problem, S)
    return _params(cp.W, cp.H, cp.b, dtype), cp.predicted_min_eig, cp.is_global


def bias_family_start(problem, S, *, with_ones: bool = False, beta=None, dtype=None) -> Params:
    """A class-collapsed starting point for Newton with bias: the §3 construction for the target
    ``Ỹ = Y − β 1 1ᵀ`` (singular vectors: the orthonormal basis ``U`` of 1^⊥ built from the class
    indicators, plus ``u_0 = 1/√K`` with σ_0 = √n |1 − Kβ| when ``with_ones``), keeping the
    components ``S`` of ``U`` (0-based, at most K − 1) and, with ``with_ones``, ``u_0`` as well.
    β defaults to 1/(K(1 + λ_b))."""
    p = problem
    K, n, d = p.K, _per_class(p), p.d
    beta = 1.0 / (K * (1.0 + p.lambda_b)) if beta is None else float(beta)
    Q, _ = np.linalg.qr(np.eye(K) - np.ones((K, K)) / K)
    U = Q[:, : K - 1]  # orthonormal basis of 1^⊥
    comps = [(U[:, i], math.sqrt(n)) for i in S]
    if with_ones:
        comps.append((np.ones(K) / math.sqrt(K), math.sqrt(n) * abs(1 - K * beta)))
    if len(comps) > d:
        raise ConfigError(f"{len(comps)} components but d={d}")
    lb = theory.lambda_bar(K, n, p.lambda_W, p.lambda_H)
    ratio = (p.lambda_H / p.lambda_W) ** 0.25
    W = np.zeros((K, d))
    Hm = np.zeros((d, K))
    A = np.eye(K) - beta * np.ones((K, K))
    for pos, (u, s) in enumerate(comps):
        eta = max(s - lb, 0.0)
        v = A.T @ u / s if s > 0 else u  # right singular vector of the K×K factor
        W[:, pos] = ratio * math.sqrt(eta) * u
        Hm[pos, :] = math.sqrt(eta) / ratio * v / math.sqrt(n)
    H = np.repeat(Hm, n, axis=1)
    b = beta * np.ones(K) if p.bias else np.zeros(K)
    return _params(W, H, b, dtype)


# --------------------------------------------------------------------------- random points


def random_point(key, data: UFMData, *, scale=SOLVE_SCALE) -> Params:
    """The solver's random start: i.i.d. N(0, scale²) W, H and b (masked); the start of ``solve``."""
    return init_params(key, data, scale=scale)


def random_collapsed_start(key, data: UFMData, *, scale=1.0) -> Params:
    """A random class-collapsed point: N(0, scale²) W, class means and b (masked)."""
    K, d = data.Y.shape[0], data.dim_mask.shape[0]
    dt = data.Y.dtype
    kw, kh, kb = jax.random.split(key, 3)
    red = _st.Collapsed(scale * jax.random.normal(kw, (K, d), dt), scale * jax.random.normal(kh, (d, K), dt),
                      scale * jax.random.normal(kb, (K,), dt))
    return mask_params(_st.expand_collapsed(red, data), data)


# --------------------------------------------------------------------------- numerical points


def solve_point(problem, *, optimizer: str = SOLVE_OPTIMIZER, steps: int = SOLVE_STEPS, seed: int = SOLVE_SEED,
                scale: float = SOLVE_SCALE, dtype=None):
    """``(Params, info)``: the output of :func:`~nclandscape.solve.solve_problem` from
    :func:`random_point` (``PRNGKey(seed)``); ``info`` has its certified ``solve_status``,
    ``solve_steps`` and ``grad_norm``."""
    from nclandscape.solve import solve_problem

    r = solve_problem(problem, optimizer=optimizer, steps=steps, seed=seed, scale=scale, dtype=_dtype(dtype))
    return r["_params"], {"solve_status": r["status"], "solve_steps": r["steps"], "grad_norm": r["grad_norm"]}


class NewtonResult(NamedTuple):
    params: Params
    grad_norm: jax.Array  # of the reduced objective (equal to the full gradient norm at collapse)
    steps: jax.Array


def newton_critical_point(objective, params: Params, data: UFMData, hparams: HParams, *,
                          max_steps: int = NEWTON_MAX_STEPS, tol=None) -> NewtonResult:
    """Newton's method for the root ∇g = 0 of the reduced (class-collapsed) problem, from the
    class means of ``params``: it converges to critical points of any Morse index, saddles
    included. Each step is the pseudo-inverse Newton step (eigenvalues below
    :data:`NEWTON_PINV_RTOL` relative, e.g. the rotation symmetry of the features, are left out)
    scaled by the t ∈ {1, 1/2, …} that minimises ‖∇g‖ — a descent on ‖∇g‖², not on g, so it
    is quadratic near a non-degenerate critical point of any index. Jittable and vmappable.

    Why not the library's damped Newton solver (:mod:`nclandscape.newton`): that is a
    *minimiser* — its damping keeps ∇²f + μI positive definite and it accepts only steps that
    lower f — so at a strict saddle it follows the negative curvature away; the points wanted
    here (``critical:I,J,...``, polishing a saddle) are non-minimum critical points.
    """
    g = _st.collapsed_objective(objective, data, hparams)
    x0, unravel = ravel_pytree(_st.collapse_params(params, data))
    mask = ravel_pytree(_st.collapsed_mask(data, x0.dtype))[0]
    f = lambda x: g(unravel(x))  # noqa: E731
    grad = lambda x: jax.grad(f)(x) * mask  # noqa: E731
    tol = NEWTON_TOL["float64" if x0.dtype == jnp.float64 else "float32"] if tol is None else tol
    ts = 2.0 ** -jnp.arange(NEWTON_STEP_SIZES, dtype=x0.dtype)

    def cond(s):
        x, gn, k = s
        return (k < max_steps) & (gn > tol)

    def body(s):
        x, gn, k = s
        gr = grad(x)
        w, V = linalg.eigh(_dense.flat_hessian(f, x) * mask[:, None] * mask[None, :])
        cut = NEWTON_PINV_RTOL * jnp.max(jnp.abs(w))
        inv = jnp.where(jnp.abs(w) > cut, 1.0 / jnp.where(jnp.abs(w) > cut, w, 1.0), 0.0)
        dx = -V @ (inv * (V.T @ gr))
        norms = jax.vmap(lambda t: jnp.linalg.norm(grad(x + t * dx)))(ts)
        i = jnp.argmin(norms)
        better = norms[i] < gn
        x = jnp.where(better, x + ts[i] * dx, x)
        gn = jnp.where(better, norms[i], gn)
        k = jnp.where(better, k + 1, max_steps)  # no progress: stop
        return x, gn, k

    x, gn, k = jax.lax.while_loop(cond, body, (x0, jnp.linalg.norm(grad(x0)), jnp.asarray(0, jnp.int32)))
    return NewtonResult(_st.expand_collapsed(unravel(x * mask), data), gn, k)


def critical_point(problem, S, *, beta=None, dtype=None, max_steps: int = NEWTON_MAX_STEPS):
    """``(Params, info)``: :func:`newton_critical_point` from :func:`bias_family_start` (``S``,
    ``beta``); ``info`` has ``S``, ``newton_steps`` and ``newton_grad_norm``."""
    from nclandscape.objectives import objective_for

    check_at(problem, "critical:" + ",".join(map(str, S)))
    dt = _dtype(dtype)
    start = bias_family_start(problem, S, beta=beta, dtype=dt)
    data, hp = problem.data(dtype=dt), problem.hparams(dtype=dt)
    obj = objective_for(problem.loss)
    r = jax.jit(lambda p: newton_critical_point(obj, p, data, hp, max_steps=max_steps))(start)
    return r.params, {"S": list(S), "newton_steps": int(r.steps), "newton_grad_norm": float(r.grad_norm)}


# --------------------------------------------------------------------------- --at → point


def point_at(problem, at: str = DEFAULT_AT, *, dtype=None, seed: int = SOLVE_SEED, optimizer: str = SOLVE_OPTIMIZER,
             steps: int = SOLVE_STEPS, scale: float = SOLVE_SCALE, beta=None) -> Point:
    """The :class:`Point` named by ``at`` (see the module docstring) in ``dtype`` (default: JAX's
    default float). ``seed``, ``optimizer``, ``steps`` and ``scale`` apply to ``solve``; ``beta``
    to ``critical`` (default 1/(K(1 + λ_b)))."""
    kind, S = check_at(problem, at)
    info: dict = {"at": at}
    if kind == "global":
        info["f_star"] = global_value(problem)
        return Point(global_point(problem, dtype), None, info)
    if kind == "saddle":
        cp = _saddle(problem, S)
        info.update(S=list(S), f_critical=cp.f, predicted_min_eig=cp.predicted_min_eig, is_global=bool(cp.is_global))
        return Point(_params(cp.W, cp.H, cp.b, dtype), cp.predicted_min_eig, info)
    if kind == "solve":
        params, more = solve_point(problem, optimizer=optimizer, steps=steps, seed=seed, scale=scale, dtype=dtype)
    else:
        params, more = critical_point(problem, S, beta=beta, dtype=dtype)
    info.update(more)
    return Point(params, None, info)
