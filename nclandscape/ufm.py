"""The unconstrained feature model: parameters, data layout, hyper-parameters, problem specs.

Shapes (THEORY.md §1): ``W`` ``(K, d)``, ``H`` ``(d, N)``, ``b`` ``(K,)``; samples are grouped by
class (class 0 first). ``UFMData`` carries the one-hot targets and three masks so that problems
of different (K, n, d) can be padded to one shape and batched: padded samples, classes and
feature dimensions contribute nothing to the objective, its gradient or the metrics.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.objectives import DEFAULT_LOSS, LOSSES, loss_of  # noqa: F401 (LOSSES: the registry, re-exported)


class Params(NamedTuple):
    W: jax.Array  # (K, d)
    H: jax.Array  # (d, N)
    b: jax.Array  # (K,)


class HParams(NamedTuple):
    """Objective hyper-parameters, arrays so that one compiled program can vmap over them."""

    lambda_W: jax.Array
    lambda_H: jax.Array
    lambda_b: jax.Array
    alpha: jax.Array
    M: jax.Array


class UFMData(NamedTuple):
    Y: jax.Array  # (K, N) one-hot targets, zero columns for padded samples
    sample_mask: jax.Array  # (N,)
    class_mask: jax.Array  # (K,)
    dim_mask: jax.Array  # (d,)
    bias: jax.Array  # () 1.0 with bias, 0.0 without


def make_hparams(lambda_W=1e-3, lambda_H=1e-3, lambda_b=1e-3, alpha=1.0, M=1.0, *, dtype=None) -> HParams:
    dtype = dtype or jnp.zeros(()).dtype
    return HParams(*(jnp.asarray(v, dtype) for v in (lambda_W, lambda_H, lambda_b, alpha, M)))


def class_sizes_of(K: int, n: int, class_sizes: Sequence[int] | None = None) -> list[int]:
    return [int(n)] * int(K) if class_sizes is None else [int(c) for c in class_sizes]


def make_data(
    K: int,
    n: int,
    d: int,
    *,
    bias: bool = True,
    class_sizes: Sequence[int] | None = None,
    pad_to: tuple[int, int, int] | None = None,
    dtype=None,
) -> UFMData:
    """Targets and masks of one problem, optionally padded to ``pad_to = (K_max, N_max, d_max)``."""
    dtype = dtype or jnp.zeros(()).dtype
    sizes = class_sizes_of(K, n, class_sizes)
    N = sum(sizes)
    Kp, Np, dp = pad_to or (K, N, d)
    if Kp < K or Np < N or dp < d:
        raise ConfigError(f"pad_to={pad_to} is smaller than the problem (K={K}, N={N}, d={d})")
    Y = np.zeros((Kp, Np))
    labels = np.repeat(np.arange(K), sizes)
    Y[labels, np.arange(N)] = 1.0
    return UFMData(
        Y=jnp.asarray(Y, dtype),
        sample_mask=jnp.asarray(np.arange(Np) < N, dtype),
        class_mask=jnp.asarray(np.arange(Kp) < K, dtype),
        dim_mask=jnp.asarray(np.arange(dp) < d, dtype),
        bias=jnp.asarray(1.0 if bias else 0.0, dtype),
    )


def mask_params(params: Params, data: UFMData) -> Params:
    """Zero every padded entry (and ``b`` when the problem has no bias)."""
    cm, sm, dm = data.class_mask, data.sample_mask, data.dim_mask
    return Params(
        W=params.W * cm[:, None] * dm[None, :],
        H=params.H * dm[:, None] * sm[None, :],
        b=params.b * cm * data.bias,
    )


def tree_norm(tree) -> jax.Array:
    """Euclidean norm of all leaves of a pytree together, as a 0-d array (jittable)."""
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree)))


def _normal_grid(key, rows: int, cols: int, dtype):
    """Standard normals indexed by (row, column): entry (i, j) depends only on (key, i, j), so
    padding a problem to a larger shape leaves its real entries unchanged."""
    i = jnp.repeat(jnp.arange(rows), cols)
    j = jnp.tile(jnp.arange(cols), rows)
    keys = jax.vmap(lambda i, j: jax.random.fold_in(jax.random.fold_in(key, i), j))(i, j)
    return jax.vmap(lambda k: jax.random.normal(k, (), dtype))(keys).reshape(rows, cols)


def init_params(key, data: UFMData, *, scale=1.0) -> Params:
    """i.i.d. N(0, scale²) entries for W, H and b; padded entries zero.

    The draw is padding-invariant (see ``_normal_grid``): a problem solved alone and the same
    problem padded inside a sweep bucket start from the same point.
    """
    K, N = data.Y.shape
    d = data.dim_mask.shape[0]
    dtype = data.Y.dtype
    kW, kH, kb = jax.random.split(key, 3)
    p = Params(
        W=scale * _normal_grid(kW, K, d, dtype),
        H=scale * _normal_grid(kH, d, N, dtype),
        b=scale * _normal_grid(kb, K, 1, dtype)[:, 0],
    )
    return mask_params(p, data)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One UFM problem as a user states it; validated on construction."""

    K: int = 10
    n: int = 5
    d: int = 12
    lambda_W: float = 1e-3
    lambda_H: float = 1e-3
    lambda_b: float = 1e-3
    bias: bool = True
    loss: str = DEFAULT_LOSS
    alpha: float = 1.0
    M: float = 1.0
    class_sizes: tuple[int, ...] | None = None

    def __post_init__(self):
        validate_problem(self)

    @property
    def N(self) -> int:
        return sum(class_sizes_of(self.K, self.n, self.class_sizes))

    @property
    def balanced(self) -> bool:
        return self.class_sizes is None or len(set(self.class_sizes)) == 1

    @property
    def loss_family(self) -> str:
        """The family of the loss (losses of one family share one objective function)."""
        return loss_of(self.loss).family

    def data(self, *, pad_to=None, dtype=None) -> UFMData:
        return make_data(self.K, self.n, self.d, bias=self.bias, class_sizes=self.class_sizes, pad_to=pad_to, dtype=dtype)

    def hparams(self, *, dtype=None) -> HParams:
        """The HParams arrays; loss hyper-parameters the loss does not take are at their neutral value."""
        eff = loss_of(self.loss).effective(alpha=self.alpha, M=self.M)
        return make_hparams(self.lambda_W, self.lambda_H, self.lambda_b, eff["alpha"], eff["M"], dtype=dtype)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def validate_problem(p: Problem) -> None:
    """Raise ConfigError naming the bad value and what is allowed."""
    if not _is_int(p.K) or p.K < 2:
        raise ConfigError(f"K={p.K!r} is not allowed: the number of classes K must be an integer >= 2")
    if not _is_int(p.n) or p.n < 1:
        raise ConfigError(f"n={p.n!r} is not allowed: samples per class n must be an integer >= 1")
    if not _is_int(p.d) or p.d < 1:
        raise ConfigError(f"d={p.d!r} is not allowed: the feature dimension d must be an integer >= 1")
    for name in ("lambda_W", "lambda_H", "lambda_b", "alpha", "M"):
        v = getattr(p, name)
        if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool) or not math.isfinite(v):
            raise ConfigError(f"{name}={v!r} is not allowed: it must be a finite number")
    for name in ("lambda_W", "lambda_H", "lambda_b"):
        if getattr(p, name) < 0:
            raise ConfigError(f"{name}={getattr(p, name)!r} is not allowed: weight decay must be >= 0")
    loss_of(p.loss).check_hparams(alpha=p.alpha, M=p.M)
    if p.class_sizes is not None:
        if len(p.class_sizes) != p.K or any((not _is_int(c)) or c < 1 for c in p.class_sizes):
            raise ConfigError(f"class_sizes={p.class_sizes!r}: give K={p.K} integers >= 1")
