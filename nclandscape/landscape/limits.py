"""Closed-form K → ∞ polar landscapes and gradients (MSE paper App. C.2, eqs. 33–35; THEORY.md §7).

With W a unit-row simplex ETF, b = 0 and a class-k feature h = s (cos θ e_1 + sin θ e_2) in
span{w^k, w^k'}, the per-sample losses tend, as K → ∞, to

- rescaled MSE (eq. 33):  ``α/2 (s cos θ − M)² + ½ s² sin² θ``  (α = M = 1: vanilla MSE), with
  gradient (eq. 34) ``∂_s = s + (α − 1) s cos² θ − α M cos θ``,
  ``∂_θ = α M s sin θ − (α − 1) s² sin θ cos θ``;
- cross-entropy, **the paper's form** (eq. 35 differentiates it): the CE of the two logits
  ``(s cos θ, s sin θ)`` of classes k and k' only, ``log(1 + e^{s (sin θ − cos θ)})``, with
  ``∂_s = σ (sin θ − cos θ)``, ``∂_θ = σ s (sin θ + cos θ)``, ``σ = e^{s sin θ} / (e^{s sin θ} +
  e^{s cos θ})``;
- cross-entropy, **the exact limit** of the paper's eq. 32: the other K − 2 logits tend to 0, so
  ``CE = log(K − 1) − s cos θ + o(1)``; what converges is ``CE − log(K − 1) → −s cos θ``, with
  ``∂_s = −cos θ``, ``∂_θ = s sin θ``. The two CE forms differ by
  ``log(e^{s cos θ} + e^{s sin θ})``: the paper's form keeps the k'-logit's pull and drops the
  ``log(K − 1)`` of the K − 2 others.

Every function is elementwise jnp (scalars or broadcastable arrays, any float dtype), so grids
are one call; ``∂_θ`` is per radian. :data:`LIMIT_FORMS` names the forms; :func:`limit_field`
evaluates one on an ``s × θ`` grid.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nclandscape.errors import ConfigError
from nclandscape.objectives import LOSSES, MSE_FAMILY

# The MSE-family forms are named after their losses (eq. 33 with the loss's effective α, M).
MSE_FORMS = tuple(name for name, entry in LOSSES.items() if entry.family == MSE_FAMILY)
LIMIT_FORMS = (*MSE_FORMS, "ce_paper", "ce_exact")


def mse_limit(s, theta, alpha=1.0, M=1.0):
    """Eq. 33: ``α/2 (s cos θ − M)² + ½ s² sin² θ``."""
    return 0.5 * alpha * (s * jnp.cos(theta) - M) ** 2 + 0.5 * (s * jnp.sin(theta)) ** 2


def mse_limit_grad(s, theta, alpha=1.0, M=1.0):
    """Eq. 34: ``(∂_s, ∂_θ)`` of :func:`mse_limit`."""
    c, sn = jnp.cos(theta), jnp.sin(theta)
    gs = s + (alpha - 1.0) * s * c**2 - alpha * M * c
    gt = alpha * M * s * sn - (alpha - 1.0) * s**2 * sn * c
    return gs, gt


def ce_paper_limit(s, theta):
    """The two-logit CE whose gradient is the paper's eq. 35: ``log(1 + e^{s(sin θ − cos θ)})``."""
    return jax.nn.softplus(s * (jnp.sin(theta) - jnp.cos(theta)))


def ce_paper_limit_grad(s, theta):
    """Eq. 35: ``(σ (sin θ − cos θ), σ s (sin θ + cos θ))``, ``σ = sigmoid(s (sin θ − cos θ))``."""
    c, sn = jnp.cos(theta), jnp.sin(theta)
    sig = jax.nn.sigmoid(s * (sn - c))  # = e^{s sin θ} / (e^{s sin θ} + e^{s cos θ})
    return sig * (sn - c), sig * s * (sn + c)


def ce_exact_limit(s, theta):
    """The exact K → ∞ limit of the paper's eq. 32 minus ``log(K − 1)``: ``−s cos θ``."""
    return -s * jnp.cos(theta)


def ce_exact_limit_grad(s, theta):
    return -jnp.cos(theta) + 0.0 * s, s * jnp.sin(theta)


def limit_value_and_grad(form: str, s, theta, alpha=1.0, M=1.0):
    """``(f, ∂_s f, ∂_θ f)`` of one closed form (:data:`LIMIT_FORMS`), elementwise."""
    if form in MSE_FORMS:
        hp = LOSSES[form].effective(alpha=alpha, M=M)
        alpha, M = hp["alpha"], hp["M"]
        return (mse_limit(s, theta, alpha, M), *mse_limit_grad(s, theta, alpha, M))
    if form == "ce_paper":
        return (ce_paper_limit(s, theta), *ce_paper_limit_grad(s, theta))
    if form == "ce_exact":
        return (ce_exact_limit(s, theta), *ce_exact_limit_grad(s, theta))
    raise ConfigError(f"form={form!r} is not allowed: choose one of {', '.join(LIMIT_FORMS)}")


def limit_field(form: str, s, theta, alpha=1.0, M=1.0):
    """:class:`~nclandscape.landscape.polar.PolarGrid` of a closed form on the grid ``s × theta``
    (``loss[i, j]`` at ``s[i]``, ``theta[j]``)."""
    from nclandscape.landscape.polar import PolarGrid

    S, T = jnp.meshgrid(jnp.asarray(s), jnp.asarray(theta), indexing="ij")
    return PolarGrid(*limit_value_and_grad(form, S, T, alpha, M))
