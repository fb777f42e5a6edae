"""Critical points: closed-form ones (global minimisers, the no-bias family of THEORY.md §3),
numerical ones (Newton on the class-collapsed reduced problem), the escape-direction bound, and
escape from a saddle by gradient descent.

Why the reduced problem is enough for MSE: at a critical point with λ_H > 0,
``(Wᵀ Ω_k W / N + λ_H I) h_i = Wᵀ Ω_k (M y_i − b) / N`` has a unique solution per class, so every
critical point of (rescaled) MSE is class-collapsed and is a critical point of the reduced
objective ``g(W, G, b)`` of :mod:`~nclandscape.hessian.structured` (and conversely, since the
gradient at a collapsed point lies in the collapsed subspace).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nclandscape import linalg
import numpy as np
from jax.flatten_util import ravel_pytree

from nclandscape.errors import ConfigError
from nclandscape.hessian import structured as _st
from nclandscape.ufm import HParams, Params, UFMData


# --------------------------------------------------------------------------- closed-form points


def global_point(problem, dtype=jnp.float64) -> Params:
    """The closed-form global minimiser of vanilla MSE (any d) or CE (d >= K − 1)."""
    from nclandscape.theory import ce_global_minimizer, mse_global_minimizer

    p = problem
    if not p.balanced:
        raise ConfigError("--at global needs balanced classes (the closed form covers those only)")
    if p.loss == "mse":
        W, H, b = mse_global_minimizer(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias)
    elif p.loss == "ce":
        W, H, b = ce_global_minimizer(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b)
    else:
        raise ConfigError("--at global: rescaled MSE has no closed-form minimiser (open question); use --at solve")
    return Params(jnp.asarray(W, dtype), jnp.asarray(H, dtype), jnp.asarray(b, dtype))


def saddle_point(problem, S, dtype=jnp.float64):
    """``(Params, predicted_min_eig or None, is_global)`` of the no-bias critical point keeping
    the singular components ``S`` (THEORY.md §3)."""
    from nclandscape.theory import nobias_critical_point

    p = problem
    if p.loss != "mse" or p.bias or not p.balanced:
        raise ConfigError("saddle:I,J,... is the no-bias family of vanilla MSE: use --loss mse --no-bias (balanced classes)")
    cp = nobias_critical_point(p.K, p.n, p.d, p.lambda_W, p.lambda_H, S)
    prm = Params(jnp.asarray(cp.W, dtype), jnp.asarray(cp.H, dtype), jnp.asarray(cp.b, dtype))
    return prm, cp.predicted_min_eig, cp.is_global


def parse_at(at: str):
    """``global`` | ``solve`` | ``saddle:I,J,...`` | ``critical:I,J,...`` → (kind, S)."""
    if at in ("global", "solve"):
        return at, ()
    for kind in ("saddle", "critical"):
        if at.startswith(kind + ":") or at == kind:
            rest = at[len(kind) + 1:]
            try:
                S = tuple(int(x) for x in rest.split(",") if x.strip() != "")
            except ValueError:
                raise ConfigError(f"--at {at!r}: give {kind}:I,J,... with 0-based integer components") from None
            return kind, S
    raise ConfigError(f"--at {at!r} is not allowed: choose global, solve, saddle:I,J,... or critical:I,J,...")


# --------------------------------------------------------------------------- Newton


class NewtonResult(NamedTuple):
    params: Params
    grad_norm: jax.Array  # of the reduced objective (equal to the full gradient norm at collapse)
    steps: jax.Array


def newton_critical_point(objective, params: Params, data: UFMData, hparams: HParams, *, max_steps: int = 100, tol=None) -> NewtonResult:
    """Newton's method for ∇g = 0 on the reduced (class-collapsed) problem, from the class means
    of ``params``. Each step is the pseudo-inverse Newton step (eigenvalues below 1e-10 relative,
    e.g. the rotation symmetry of the features, are left out) scaled by the t ∈ {1, 1/2, …, 2⁻¹¹}
    that minimises ‖∇g‖ — a damped Gauss–Newton descent on ‖∇g‖² that converges to saddles as
    well as minima, quadratically near a non-degenerate one. Jittable."""
    g = _st.reduced_objective(objective, data, hparams)
    x0, unravel = ravel_pytree(_st.reduce_params(params, data))
    mask = ravel_pytree(_st.reduced_mask(data, x0.dtype))[0]
    f = lambda x: g(unravel(x))
    grad = lambda x: jax.grad(f)(x) * mask
    hess = lambda x: jax.hessian(f)(x) * mask[:, None] * mask[None, :]
    tol = (1e-13 if x0.dtype == jnp.float64 else 1e-6) if tol is None else tol
    ts = 2.0 ** -jnp.arange(12, dtype=x0.dtype)

    def cond(s):
        x, gn, k = s
        return (k < max_steps) & (gn > tol)

    def body(s):
        x, gn, k = s
        gr = grad(x)
        w, V = linalg.eigh(0.5 * (hess(x) + hess(x).T))
        cut = 1e-10 * jnp.max(jnp.abs(w))
        inv = jnp.where(jnp.abs(w) > cut, 1.0 / jnp.where(jnp.abs(w) > cut, w, 1.0), 0.0)
        dx = -V @ (inv * (V.T @ gr))
        norms = jax.vmap(lambda t: jnp.linalg.norm(grad(x + t * dx)))(ts)
        i = jnp.argmin(norms)
        better = norms[i] < gn
        x = jnp.where(better, x + ts[i] * dx, x)
        gn = jnp.where(better, norms[i], gn)
        k = jnp.where(better, k + 1, max_steps)  # no progress: stop
        return x, gn, k

    x, gn, k = jax.lax.while_loop(cond, body, (x0, jnp.linalg.norm(grad(x0)), jnp.asarray(0)))
    return NewtonResult(_st.expand_reduced(unravel(x * mask), data), gn, k)


def bias_family_start(problem, S, *, with_ones: bool = False, beta=None, dtype=jnp.float64) -> Params:
    """A class-collapsed starting point for Newton with bias: the §3 construction for the target
    ``Ỹ = Y − β 1 1ᵀ`` (singular vectors: the orthonormal basis ``U`` of 1^⊥ built from the class
    indicators, plus ``u_0 = 1/√K`` with σ_0 = √n |1 − Kβ| when ``with_ones``), keeping the
    components ``S`` of ``U`` (0-based, at most K − 1) and, with ``with_ones``, ``u_0`` as well."""
    import math

    from nclandscape.theory import lambda_bar

    p = problem
    K, n, d = p.K, p.n, p.d
    beta = 1.0 / (K * (1.0 + p.lambda_b)) if beta is None else float(beta)
    Q, _ = np.linalg.qr(np.eye(K) - np.ones((K, K)) / K)
    U = Q[:, : K - 1]  # orthonormal basis of 1^⊥
    comps = [(U[:, i], math.sqrt(n)) for i in S]
    if with_ones:
        comps.append((np.ones(K) / math.sqrt(K), math.sqrt(n) * abs(1 - K * beta)))
    if len(comps) > d:
        raise ConfigError(f"{len(comps)} components but d={d}")
    lb = lambda_bar(K, n, p.lambda_W, p.lambda_H)
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
    return Params(jnp.asarray(W, dtype), jnp.asarray(H, dtype), jnp.asarray(b, dtype))


# --------------------------------------------------------------------------- escape bound


def escape_bound(objective, params: Params, data: UFMData, hparams: HParams, *, rank_tol: float = 1e-8):
    """``(bound, exists)``: if some unit ``a`` has ``W a = 0`` and ``Hᵀ a = 0``, the directions
    ``(x u aᵀ, y a vᵀ)`` give the Rayleigh quotient of the 2×2 matrix
    ``[[λ_W, −σ], [−σ, λ_H]]`` with ``σ = σ_max(∇_Z L)`` (``L`` the data term, ``Z = W H + b 1ᵀ``):
    ``λ_min(∇²f) <= (λ_W + λ_H)/2 − √(((λ_W − λ_H)/2)² + σ²)``. At the §3 family this is the
    predicted eigenvalue of THEORY.md §3 (σ = √n / N). Unpadded problems; NumPy-free, jittable."""
    ell = _st.per_sample_loss(objective, data, hparams)
    N = jnp.sum(data.sample_mask)
    Z = params.W @ params.H + (params.b * data.bias)[:, None]
    L = lambda Z: jnp.sum(ell(Z, data.Y) * data.sample_mask) / N
    G = jax.grad(L)(Z)
    sigma = linalg.svdvals(G)[0]
    lw, lh = hparams.lambda_W, hparams.lambda_H
    bound = 0.5 * (lw + lh) - jnp.sqrt((0.5 * (lw - lh)) ** 2 + sigma**2)
    M = jnp.concatenate([params.W.T, params.H], axis=1)  # (d, K + N)
    s = linalg.svdvals(M)
    rank = jnp.sum(s > rank_tol * jnp.maximum(jnp.max(s), 1.0))
    return bound, rank < params.W.shape[1]


# --------------------------------------------------------------------------- escape


class EscapeResult(NamedTuple):
    params: Params
    value: jax.Array
    steps: jax.Array  # GD steps until value − f_star <= gap_tol (or max_steps)
    reached: jax.Array  # bool


def escape(objective, params: Params, direction: Params, data: UFMData, hparams: HParams, *, f_star, eps=1e-3, lr=0.5, max_steps=100_000, gap_tol=1e-9) -> EscapeResult:
    """Step ``eps`` along ``direction`` (unit; e.g. the most negative eigenvector), then full-batch
    gradient descent with step ``lr`` until ``f − f_star <= gap_tol``. Jittable."""
    from nclandscape.ufm import mask_params

    f = lambda p: objective(p, data, hparams)
    vg = jax.value_and_grad(f)
    p0 = mask_params(jax.tree_util.tree_map(lambda a, v: a + eps * v, params, direction), data)

    def cond(s):
        p, v, k = s
        return (k < max_steps) & (v - f_star > gap_tol) & jnp.isfinite(v)

    def body(s):
        p, v, k = s
        _, g = vg(p)
        p = mask_params(jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), data)
        return p, f(p), k + 1

    p, v, k = jax.lax.while_loop(cond, body, (p0, f(p0), jnp.asarray(0)))
    return EscapeResult(p, v, k, v - f_star <= gap_tol)


# --------------------------------------------------------------------------- the CLI's --at


def point_for(problem, at: str, *, dtype=jnp.float64, seed: int = 0, optimizer: str = "lbfgs", steps: int = 1000, beta=None):
    """``(params, predicted_min_eig or None, info dict)`` of ``--at global|solve|saddle:S|critical:S``.

    ``critical:S`` (MSE, with or without bias) starts Newton on the reduced problem from
    :func:`bias_family_start` (components ``S`` of the basis of 1^⊥, β = 1/(K(1+λ_b)) unless
    ``beta``) and reports its gradient norm and steps.
    """
    from nclandscape.objectives import objective_for
    from nclandscape.solve import solve_problem

    kind, S = parse_at(at)
    info: dict = {"at": at}
    if kind == "global":
        return global_point(problem, dtype), None, info
    if kind == "saddle":
        prm, pred, is_global = saddle_point(problem, S, dtype)
        info["S"] = list(S)
        info["predicted_global"] = bool(is_global)
        return prm, pred, info
    if kind == "solve":
        r = solve_problem(problem, optimizer=optimizer, steps=steps, seed=seed, dtype=dtype)
        info.update(solve_status=r["status"], solve_steps=r["steps"])
        return r["_params"], None, info
    if problem.loss == "ce":
        raise ConfigError("critical:I,J,... starts from the MSE family: use --loss mse or rescaled_mse")
    if any(i < 0 or i >= problem.K - 1 for i in S):
        raise ConfigError(f"critical:{','.join(map(str, S))}: components index the basis of 1^perp, 0..{problem.K - 2}")
    start = bias_family_start(problem, S, beta=beta, dtype=dtype)
    data, hp = problem.data(dtype=dtype), problem.hparams(dtype=dtype)
    obj = objective_for(problem.loss)
    r = jax.jit(lambda p: newton_critical_point(obj, p, data, hp))(start)
    info.update(S=list(S), newton_steps=int(r.steps), newton_grad_norm=float(r.grad_norm))
    return r.params, None, info


# --------------------------------------------------------------------------- search


def gradient_norm_descent(objective, params: Params, data: UFMData, hparams: HParams, *, steps: int = 300):
    """Minimise ``‖∇g‖²`` of the reduced problem with L-BFGS (optax, zoom line search) for
    ``steps`` steps from the class means of ``params``: it is attracted by critical points of any
    index (and by non-critical minima of ‖∇g‖², which certification then rejects). Jittable."""
    import optax

    g = _st.reduced_objective(objective, data, hparams)
    x0, unravel = ravel_pytree(_st.reduce_params(params, data))
    mask = ravel_pytree(_st.reduced_mask(data, x0.dtype))[0]
    gn2 = lambda x: jnp.sum((jax.grad(lambda y: g(unravel(y)))(x) * mask) ** 2)
    opt = optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20, verbose=False))
    vg = jax.value_and_grad(gn2)

    def body(carry, _):
        x, st = carry
        v, gr = vg(x)
        u, st = opt.update(gr, st, x, value=v, grad=gr, value_fn=gn2)
        x = optax.apply_updates(x, u) * mask
        return (x, st), None

    (x, _), _ = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
    return _st.expand_reduced(unravel(x), data)


def random_collapsed_start(key, data: UFMData, *, scale=1.0) -> Params:
    """A random class-collapsed point: N(0, scale²) W, class means and b (masked)."""
    from nclandscape.ufm import mask_params

    K, d = data.Y.shape[0], data.dim_mask.shape[0]
    dt = data.Y.dtype
    kw, kh, kb = jax.random.split(key, 3)
    red = _st.Reduced(scale * jax.random.normal(kw, (K, d), dt), scale * jax.random.normal(kh, (d, K), dt),
                      scale * jax.random.normal(kb, (K,), dt))
    return mask_params(_st.expand_reduced(red, data), data)
