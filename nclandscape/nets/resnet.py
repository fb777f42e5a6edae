"""ResNet18 for 32x32 inputs (CIFAR-style: 3x3 stem, no max-pool), Flax linen.

Models are ``partial``s with explicit variables::

    model = ResNet18(num_classes=10, feature_dim=None)
    variables = model.init(key, x, train=False)
    (logits, feats), upd = model.apply(
        {"params": p, "batch_stats": s}, x, train=True, mutable=["batch_stats"])

``feature_dim`` (the papers' fixed-dimension option) sets the dimension d of the *penultimate
features* ``h`` in one of two ways (``feature_layer``):

- ``"last_block"`` (the MSE paper's ResNet18): the second convolution of the last residual block
  has d output channels and, when d differs from the block's width, its shortcut becomes a 1x1
  convolution + batch norm to d channels, so ``h`` is the pooled d-channel output (non-negative: the block ends with a ReLU) and a
  small d (e.g. d = K) removes most of that block's parameters;
- ``"linear"``: a linear layer (no activation) from the pooled ``8 width``-d representation to d.

``h`` is the pooled vector itself when ``feature_dim`` is None. ``fixed_etf=True`` replaces
the learned classifier by a constant simplex ETF (:func:`simplex_etf`), which is not a parameter
and so can never move; ``classifier_bias`` switches the bias ``b`` (a parameter in both cases).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError

ModuleDef = Any

# torchvision initialises convolutions with kaiming_normal(fan_out, relu).
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
FEATURE_LAYERS = ("linear", "last_block")


def simplex_etf(num_classes: int, dim: int, *, seed: int | None = None) -> np.ndarray:
    """A ``(K, d)`` simplex ETF with unit rows: ``W W^T = K/(K-1) (I - 1 1^T / K)``.

    ``W = sqrt(K/(K-1)) V R`` with ``V`` an orthonormal basis of the complement of ``1`` (K x K-1)
    and ``R`` ``(K-1) x d`` with orthonormal rows. Needs ``d >= K-1``. ``seed=None`` (the
    default, the MSE paper's choice): for ``d >= K`` the standard ETF in the first K coordinates,
    ``W = sqrt(K/(K-1)) [I - 1 1^T/K, 0]`` (``R = [V^T 0]``), whose null space holds the
    all-ones direction, so non-negative (post-ReLU) features can reach every class target; an
    integer ``seed``: ``R`` a seeded random rotation.
    """
    K, d = int(num_classes), int(dim)
    if K < 2:
        raise ConfigError(f"simplex ETF needs at least 2 classes, got num_classes={K}")
    if d < K - 1:
        raise ConfigError(
            f"a fixed simplex-ETF classifier needs feature_dim >= num_classes - 1 = {K - 1}, "
            f"got {d}; use a learned classifier (fixed_etf=False) or a larger feature_dim")
    centre = np.eye(K) - np.ones((K, K)) / K
    _, vecs = np.linalg.eigh(centre)
    V = vecs[:, 1:]  # eigenvalue 0 (the ones direction) comes first
    if seed is None:
        R = np.eye(K - 1) if d == K - 1 else np.concatenate([V.T, np.zeros((K - 1, d - K))], 1)
    else:
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        R = Q[: K - 1, :]
    return np.sqrt(K / (K - 1)) * V @ R


class BatchNorm(nn.BatchNorm):
    """flax's BatchNorm traced under JAX's standard dtype promotion: it mixes the activation dtype
    (bfloat16 in mixed precision) with its float32 statistics internally, which
    ``jax_numpy_dtype_promotion="strict"`` refuses. Same name, same variables, same numbers."""

    def __call__(self, x, *args, **kwargs):
        with jax.numpy_dtype_promotion("standard"):
            return super().__call__(x, *args, **kwargs)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus (projected) shortcut, then ReLU."""

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    strides: int = 1
    out_filters: int | None = None  # channels of the second convolution (None: filters)

    @nn.compact
    def __call__(self, x):
        s = (self.strides, self.strides)
        out = self.filters if self.out_filters is None else self.out_filters
        y = self.conv(self.filters, (3, 3), s, padding=((1, 1), (1, 1)))(x)
        y = nn.relu(self.norm()(y))
        y = self.conv(out, (3, 3), padding=((1, 1), (1, 1)))(y)
        y = self.norm()(y)
        r = x
        if r.shape != y.shape:
            r = self.conv(out, (1, 1), s, padding="VALID", name="conv_proj")(r)
            r = self.norm(name="norm_proj")(r)
        return nn.relu(y + r)


class ResNet(nn.Module):
    """CIFAR ResNet returning ``(logits, features)``; logits and features are float32."""

    stage_sizes: Sequence[int]
    num_classes: int = 10
    width: int = 64
    feature_dim: int | None = None
    feature_layer: str = "linear"  # "linear" | "last_block" (module docstring)
    classifier_bias: bool = True
    fixed_etf: bool = False
    etf_seed: int | None = None  # simplex_etf's seed (None: the standard embedding)
    dtype: Any = jnp.float32
    act: Callable = nn.relu

    @property
    def penultimate_dim(self) -> int:
        if self.feature_dim is not None:
            return self.feature_dim
        return self.width * 2 ** (len(self.stage_sizes) - 1)

    @nn.compact
    def __call__(self, x, train: bool = True):
        conv = partial(nn.Conv, use_bias=False, dtype=self.dtype, param_dtype=jnp.float32,
                       kernel_init=conv_init)
        norm = partial(BatchNorm, use_running_average=not train, momentum=0.9,
                       epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32)
        x = x.astype(self.dtype)
        x = conv(self.width, (3, 3), padding=((1, 1), (1, 1)), name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        if self.feature_layer not in FEATURE_LAYERS:
            raise ConfigError(f"feature_layer={self.feature_layer!r}; choose one of "
                              f"{', '.join(FEATURE_LAYERS)}")
        in_block = self.feature_dim is not None and self.feature_layer == "last_block"
        for i, n_blocks in enumerate(self.stage_sizes):
            for j in range(n_blocks):
                strides = 2 if i > 0 and j == 0 else 1
                last = i == len(self.stage_sizes) - 1 and j == n_blocks - 1
                x = BasicBlock(self.width * 2**i, conv=conv, norm=norm, strides=strides,
                               out_filters=self.feature_dim if in_block and last else None)(x)
        h = jnp.mean(x, axis=(1, 2))
        if self.feature_dim is not None and not in_block:
            h = nn.Dense(self.feature_dim, dtype=self.dtype, param_dtype=jnp.float32,
                         name="feature")(h)
        h = h.astype(jnp.float32)
        if self.fixed_etf:
            W = jnp.asarray(simplex_etf(self.num_classes, h.shape[-1], seed=self.etf_seed),
                            jnp.float32)
            logits = h @ W.T
            if self.classifier_bias:
                b = self.param("classifier_bias", nn.initializers.zeros,
                               (self.num_classes,), jnp.float32)
                logits = logits + b
        else:
            logits = nn.Dense(self.num_classes, use_bias=self.classifier_bias,
                              dtype=jnp.float32, param_dtype=jnp.float32,
                              name="classifier")(h)
        return logits.astype(jnp.float32), h


ResNet18 = partial(ResNet, stage_sizes=(2, 2, 2, 2))


def classifier_weights(model: ResNet, params) -> tuple[jnp.ndarray, jnp.ndarray | None]:
    """The last layer ``(W (K, d), b (K,) or None)`` in the papers' convention."""
    if model.fixed_etf:
        W = jnp.asarray(simplex_etf(model.num_classes, model.penultimate_dim,
                                    seed=model.etf_seed), jnp.float32)
        b = params.get("classifier_bias") if model.classifier_bias else None
        return W, b
    layer = params["classifier"]
    return layer["kernel"].T, layer.get("bias")


def count_params(params) -> int:
    import jax

    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
