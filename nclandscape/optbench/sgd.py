"""Minibatch SGD on the UFM: epoch-wise sample shuffling and the minibatch objective.

The minibatch objective of a batch ``B`` keeps the full weight decay and averages the data term
over ``B``:

    f_B(W, H, b) = 1/|B| Σ_{i∈B} ℓ_i(W h_i + b) + λ_W/2 ‖W‖² + λ_H/2 ‖H‖² + λ_b/2 ‖b‖²,

so over one epoch of equal batches the mean of ∇f_B is exactly ∇f (an unbiased gradient). (Masking
``H`` by the batch, as ``data.sample_mask`` would, drops the decay on the other features and
biases the step.) Batches: epoch ``e`` draws a permutation of the samples from
``fold_in(key, e)``; step ``t`` takes positions ``[j B, (j + 1) B)`` of it, ``j = t mod ⌈N/B⌉``,
so the last batch of an epoch is smaller when ``B`` does not divide ``N``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from nclandscape.objectives import loss_of, weight_decay
from nclandscape.ufm import HParams, Params, UFMData, mask_params

# fold_in constant separating the batch-order key from the initialisation key of a seed.
BATCH_KEY_TAG = 0x5D6


def batch_key(key):
    """The key of a seed's batch order, derived from the seed's initialisation key."""
    return jax.random.fold_in(key, BATCH_KEY_TAG)


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    return -(-int(num_samples) // int(batch_size))


def epoch_rank(key, epoch, num_samples: int):
    """Position of every sample in epoch ``epoch``'s shuffled order, ``(num_samples,)`` int32."""
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), num_samples)
    return jnp.zeros((num_samples,), jnp.int32).at[perm].set(jnp.arange(num_samples, dtype=jnp.int32))


def mask_from_rank(rank, j, *, batch_size: int, dtype=jnp.float32):
    """0/1 mask of the ``j``-th batch of an epoch whose order is ``rank``."""
    j = jnp.asarray(j, rank.dtype)
    return ((rank >= j * batch_size) & (rank < (j + 1) * batch_size)).astype(dtype)


def minibatch_mask(key, step, *, num_samples: int, batch_size: int, dtype=jnp.float32):
    """``(num_samples,)`` 0/1 mask of the samples in the batch of ``step`` (traced integer)."""
    spe = steps_per_epoch(num_samples, batch_size)
    rank = epoch_rank(key, step // spe, num_samples)
    return mask_from_rank(rank, step % spe, batch_size=batch_size, dtype=dtype)


def per_sample_fn(loss: str):
    """Per-sample data term ``(logits, targets, hparams, class_mask) -> (N,)`` of a loss name (its
    registry entry's ``per_sample``)."""
    return loss_of(loss).per_sample


def minibatch_objective(loss: str):
    """``f_B(params, data, hparams, batch_mask)``; equals ``objective_for(loss)`` at a full mask."""
    term = per_sample_fn(loss)

    def f(params: Params, data: UFMData, hparams: HParams, batch_mask):
        p = mask_params(params, data)
        z = p.W @ p.H + p.b[:, None]
        w = data.sample_mask * batch_mask
        return jnp.sum(term(z, data.Y, hparams, data.class_mask) * w) / jnp.sum(w) + weight_decay(p, hparams)

    return f


def make_minibatch_step(loss: str, data: UFMData, hparams: HParams, opt):
    """One minibatch step ``(params, opt_state, batch_mask) -> (params, opt_state)`` (pure)."""
    grad_fn = jax.grad(minibatch_objective(loss))

    def step(params, opt_state, mask):
        g = grad_fn(params, data, hparams, mask)
        updates, opt_state = opt.update(g, opt_state, params)
        return mask_params(optax.apply_updates(params, updates), data), opt_state

    return step


def minibatch_steps(step, params, opt_state, key, start, length, *, num_samples: int, batch_size: int, dtype):
    """Steps ``start .. start + length - 1`` of minibatch SGD from one seed's batch key.

    ``start`` is the same for every seed (not vmapped), so the epoch's order is drawn only at
    epoch boundaries (``lax.cond`` on an unbatched predicate stays a branch under ``vmap``) instead
    of at every step; the batches are exactly those of :func:`minibatch_mask`.
    """
    spe = steps_per_epoch(num_samples, batch_size)

    def body(i, carry):
        params, opt_state, rank = carry
        t = start + i
        rank = jax.lax.cond((t % spe == 0) & (i > 0), lambda: epoch_rank(key, t // spe, num_samples), lambda: rank)
        mask = mask_from_rank(rank, t % spe, batch_size=batch_size, dtype=dtype)
        params, opt_state = step(params, opt_state, mask)
        return params, opt_state, rank

    rank0 = epoch_rank(key, start // spe, num_samples)
    params, opt_state, _ = jax.lax.fori_loop(0, length, body, (params, opt_state, rank0))
    return params, opt_state
