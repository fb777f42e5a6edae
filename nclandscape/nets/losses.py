"""Training losses of the papers (THEORY.md §1), per-sample terms apart from the reduction.

Every per-sample function takes ``logits (B, K)`` float and ``labels (B,)`` int and returns
``(B,)``; hyper-parameters are keyword-only arrays so one compiled program serves many values.

- cross entropy: ``-log softmax(z)_y``
- MSE: ``½ ||z - e_y||²`` (the data term of MSE paper eq. 3 is the mean of this)
- rescaled MSE (eq. 4): ``½ [α (z_y - M)² + Σ_{j≠y} z_j²]``; α = M = 1 gives MSE.

The losses are those of the registry :data:`nclandscape.objectives.LOSSES` (its entries'
``network_loss``), defined there with the UFM ones. :func:`objective` adds weight decay
``(λ/2) Σ ||θ||²`` over **all** parameters (convolutions, batch-norm scales and shifts, biases),
as in the papers.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nclandscape.objectives import LOSSES, cross_entropy, loss_of, mse, rescaled_mse  # noqa: F401 (re-exported)


def per_sample_loss(name: str):
    """``fn(logits, labels, hparams) -> (B,)`` of a loss of :data:`LOSSES`; ``hparams`` a dict
    with the loss hyper-parameters (``alpha``, ``M``; the neutral 1 for a loss that takes none)."""
    return loss_of(name).network_loss


def weight_decay_term(params, weight_decay):
    """``(λ/2) Σ ||θ||²`` over every leaf of ``params``."""
    sq = sum(jnp.sum(jnp.square(p.astype(jnp.float32))) for p in jax.tree_util.tree_leaves(params))
    return 0.5 * weight_decay * sq


def objective(data_loss, params, hparams):
    """Mean data loss + weight decay; ``hparams['weight_decay']`` is an array."""
    return jnp.mean(data_loss) + weight_decay_term(params, hparams["weight_decay"])
