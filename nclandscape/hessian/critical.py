"""Critical points: the escape-direction bound, escape from a saddle by gradient descent, and a
search for critical points of any index (gradient-norm descent on the reduced problem).

The points themselves — closed-form minimisers, the no-bias family of THEORY.md §3, Newton's
root-finder on the class-collapsed problem and its starts, and the ``--at`` strings — live in
:mod:`nclandscape.points`; their names are re-exported here.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from nclandscape import linalg
from nclandscape.hessian import structured as _st
from nclandscape.optimizers import standard_promotion
from nclandscape.points import (
    NewtonResult,
    bias_family_start,
    global_point,
    newton_critical_point,
    parse_at,
    random_collapsed_start,
    saddle_point,
)
from nclandscape.points import point_at as point_for  # (params, predicted_min_eig, info), as before
from nclandscape.ufm import HParams, Params, UFMData

__all__ = [
    "EscapeResult", "escape", "escape_bound", "gradient_norm_descent",
    # re-exported from nclandscape.points
    "NewtonResult", "bias_family_start", "global_point", "newton_critical_point", "parse_at", "point_for",
    "random_collapsed_start", "saddle_point",
]


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

    p, v, k = jax.lax.while_loop(cond, body, (p0, f(p0), jnp.asarray(0, jnp.int32)))
    return EscapeResult(p, v, k, v - f_star <= gap_tol)


# --------------------------------------------------------------------------- search


def gradient_norm_descent(objective, params: Params, data: UFMData, hparams: HParams, *, steps: int = 300):
    """Minimise ``‖∇g‖²`` of the reduced problem with L-BFGS (optax, zoom line search) for
    ``steps`` steps from the class means of ``params``: it is attracted by critical points of any
    index (and by non-critical minima of ‖∇g‖², which certification then rejects). Jittable."""
    import optax

    g = _st.collapsed_objective(objective, data, hparams)
    x0, unravel = ravel_pytree(_st.collapse_params(params, data))
    mask = ravel_pytree(_st.collapsed_mask(data, x0.dtype))[0]
    gn2 = lambda x: jnp.sum((jax.grad(lambda y: g(unravel(y)))(x) * mask) ** 2)
    opt = standard_promotion(optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20,
                                                                                   verbose=False)))
    vg = jax.value_and_grad(gn2)

    def body(carry, _):
        x, st = carry
        v, gr = vg(x)
        u, st = opt.update(gr, st, x, value=v, grad=gr, value_fn=gn2)
        x = optax.apply_updates(x, u) * mask
        return (x, st), None

    (x, _), _ = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
    return _st.expand_collapsed(unravel(x), data)
