"""UFM objectives (THEORY.md §1) as pure functions ``f(params, data, hparams) -> scalar``.

Per-sample terms are kept apart from the reduction (optax style) and take their hyper-parameters
keyword-only. ``hparams`` is a pytree of arrays, so ``jax.vmap`` over configurations works on any
of them. Vanilla MSE is rescaled MSE with ``alpha = M = 1``; the no-bias variant is ``data.bias = 0``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from nclandscape.errors import ConfigError
from nclandscape.ufm import HParams, Params, UFMData, mask_params


def rescaled_mse_per_sample(logits, targets, *, alpha, M, class_mask=None):
    """½ Σ_j ω_j (z_j − M y_j)², ω_j = α on the true class, 1 elsewhere. logits/targets (K, N)."""
    omega = 1.0 + (alpha - 1.0) * targets
    sq = omega * (logits - M * targets) ** 2
    if class_mask is not None:
        sq = sq * class_mask[:, None]
    return 0.5 * jnp.sum(sq, axis=0)


def mse_per_sample(logits, targets, *, class_mask=None):
    """½ ||z − y||² per sample (vanilla MSE)."""
    return rescaled_mse_per_sample(logits, targets, alpha=1.0, M=1.0, class_mask=class_mask)


def ce_per_sample(logits, targets, *, class_mask=None):
    """−log softmax(z)_{true class} per sample; padded classes get −inf logits."""
    if class_mask is not None:
        logits = jnp.where(class_mask[:, None] > 0, logits, -jnp.inf)
    lse = jax.nn.logsumexp(logits, axis=0)
    own = jnp.sum(jnp.where(targets > 0, logits, 0.0), axis=0)
    return lse - own


def weight_decay(params: Params, hparams: HParams):
    """λ_W/2 ||W||² + λ_H/2 ||H||² + λ_b/2 ||b||²."""
    return 0.5 * (
        hparams.lambda_W * jnp.sum(params.W**2)
        + hparams.lambda_H * jnp.sum(params.H**2)
        + hparams.lambda_b * jnp.sum(params.b**2)
    )


def logits(params: Params, data: UFMData):
    p = mask_params(params, data)
    return p.W @ p.H + p.b[:, None]


def _objective(params: Params, data: UFMData, hparams: HParams, per_sample_fn):
    p = mask_params(params, data)
    z = p.W @ p.H + p.b[:, None]
    per_sample = per_sample_fn(z, data.Y)
    n_eff = jnp.sum(data.sample_mask)
    return jnp.sum(per_sample * data.sample_mask) / n_eff + weight_decay(p, hparams)


@dataclasses.dataclass(frozen=True)
class Objective:
    """A UFM objective ``f(params, data, hparams)`` that also exposes its per-sample loss
    ``per_sample(logits, targets, hparams, class_mask) -> (N,)`` (the Newton solver differentiates
    it in the logits)."""

    name: str
    per_sample: Callable
    doc: str = ""
    class_curvature: bool = False  # the per-sample loss's Hessian in the logits depends only on the class

    def __call__(self, params: Params, data: UFMData, hparams: HParams):
        return _objective(params, data, hparams, self.bind(hparams, data.class_mask))

    def bind(self, hparams: HParams, class_mask):
        """The per-sample loss ``(logits, targets) -> (N,)`` with its hyper-parameters fixed."""
        return lambda z, y: self.per_sample(z, y, hparams, class_mask)


def _mse_per_sample(z, y, hparams, class_mask):
    return rescaled_mse_per_sample(z, y, alpha=hparams.alpha, M=hparams.M, class_mask=class_mask)


def _ce_per_sample(z, y, hparams, class_mask):
    return ce_per_sample(z, y, class_mask=class_mask)


mse_objective = Objective("mse", _mse_per_sample, "Rescaled MSE with weight decay (vanilla when alpha = M = 1).",
                          class_curvature=True)
ce_objective = Objective("ce", _ce_per_sample, "Cross-entropy with weight decay.")

OBJECTIVES = {"mse": mse_objective, "rescaled_mse": mse_objective, "ce": ce_objective}


def objective_for(loss: str):
    """The objective function of a loss name (``mse``, ``rescaled_mse`` or ``ce``)."""
    try:
        return OBJECTIVES[loss]
    except KeyError:
        raise ConfigError(f"loss={loss!r} is not allowed: choose one of {', '.join(OBJECTIVES)}") from None
