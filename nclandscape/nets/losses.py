"""Training losses of the papers (THEORY.md §1), per-sample terms apart from the reduction.

Every per-sample function takes ``logits (B, K)`` float and ``labels (B,)`` int and returns
``(B,)``; hyper-parameters are keyword-only arrays so one compiled program serves many values.

- cross entropy: ``-log softmax(z)_y``
- MSE: ``½ ||z - e_y||²`` (the data term of MSE paper eq. 3 is the mean of this)
- rescaled MSE (eq. 4): ``½ [α (z_y - M)² + Σ_{j≠y} z_j²]``; α = M = 1 gives MSE.

:func:`objective` adds weight decay ``(λ/2) Σ ||θ||²`` over **all** parameters (convolutions,
batch-norm scales and shifts, biases), as in the papers.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from nclandscape.errors import ConfigError

LOSSES = ("ce", "mse", "rescaled_mse")


def cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def mse(logits, labels):
    y = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return 0.5 * jnp.sum((logits - y) ** 2, axis=-1)


def rescaled_mse(logits, labels, *, alpha, M):
    y = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    omega = 1.0 + (alpha - 1.0) * y
    return 0.5 * jnp.sum(omega * (logits - M * y) ** 2, axis=-1)


def per_sample_loss(name: str):
    """``fn(logits, labels, hparams) -> (B,)`` for ``name`` in :data:`LOSSES`."""
    if name == "ce":
        return lambda z, y, hp: cross_entropy(z, y)
    if name == "mse":
        return lambda z, y, hp: mse(z, y)
    if name == "rescaled_mse":
        return lambda z, y, hp: rescaled_mse(z, y, alpha=hp["alpha"], M=hp["M"])
    raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def weight_decay_term(params, weight_decay):
    """``(λ/2) Σ ||θ||²`` over every leaf of ``params``."""
    sq = sum(jnp.sum(jnp.square(p.astype(jnp.float32))) for p in jax.tree_util.tree_leaves(params))
    return 0.5 * weight_decay * sq


def objective(data_loss, params, hparams):
    """Mean data loss + weight decay; ``hparams['weight_decay']`` is an array."""
    return jnp.mean(data_loss) + weight_decay_term(params, hparams["weight_decay"])
