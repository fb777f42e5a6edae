"""UFM objectives (THEORY.md §1) as pure functions ``f(params, data, hparams) -> scalar``, and the
loss registry :data:`LOSSES`.

Per-sample terms are kept apart from the reduction (optax style) and take their hyper-parameters
keyword-only. ``hparams`` is a pytree of arrays, so ``jax.vmap`` over configurations works on any
of them. Vanilla MSE is rescaled MSE with ``alpha = M = 1``; the no-bias variant is ``data.bias = 0``.

The registry
------------
``LOSSES`` maps every loss name to a :class:`Loss`, the single answer to "which losses exist and
what may they take": its per-sample function, its family, the hyper-parameters it takes (and their
validation), its closed-form global minimum (how :mod:`nclandscape.theory` finds it), the
curvature flag of the Newton solver, and which engines run it (reduced dynamics, fused kernel).
A ``Loss`` is itself the UFM objective of its loss: ``LOSSES[name](params, data, hparams)``;
:func:`objective_for` returns it. Every other module reads the registry; no other module names a
loss. To add a loss, write its per-sample function and register a ``Loss`` (:func:`register_loss`;
docs/registry.md shows a squared hinge loss added from a test).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import types
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from nclandscape.errors import ConfigError
from nclandscape.theory import CE_CLOSED_FORM, MSE_CLOSED_FORM, ClosedForm


# ----------------------------------------------------------------------------- per-sample losses
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


# The same losses in the layout of networks: logits (B, K), integer labels (B,) -> (B,).
def cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def mse(logits, labels):
    y = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return 0.5 * jnp.sum((logits - y) ** 2, axis=-1)


def rescaled_mse(logits, labels, *, alpha, M):
    y = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    omega = 1.0 + (alpha - 1.0) * y
    return 0.5 * jnp.sum(omega * (logits - M * y) ** 2, axis=-1)


# ----------------------------------------------------------------------------- the objective
def weight_decay(params, hparams):
    """λ_W/2 ||W||² + λ_H/2 ||H||² + λ_b/2 ||b||²."""
    return 0.5 * (
        hparams.lambda_W * jnp.sum(params.W**2)
        + hparams.lambda_H * jnp.sum(params.H**2)
        + hparams.lambda_b * jnp.sum(params.b**2)
    )


def logits(params, data):
    from nclandscape.ufm import mask_params

    p = mask_params(params, data)
    return p.W @ p.H + p.b[:, None]


def _objective(params, data, hparams, per_sample_fn):
    from nclandscape.ufm import mask_params

    p = mask_params(params, data)
    z = p.W @ p.H + p.b[:, None]
    per_sample = per_sample_fn(z, data.Y)
    n_eff = jnp.sum(data.sample_mask)
    return jnp.sum(per_sample * data.sample_mask) / n_eff + weight_decay(p, hparams)


# ----------------------------------------------------------------------------- the registry
# Loss hyper-parameters: the fields of HParams beyond weight decay that a loss may take. A loss that
# does not take one runs at its neutral value (1); every value must be finite and >= 1.
LOSS_HPARAMS = ("alpha", "M")
NEUTRAL = 1.0


def check_loss_hparams(*, where: str = "", **values) -> None:
    """Range of the loss hyper-parameters (finite, >= 1), whatever the loss. ``where``: a prefix of
    the names in the message (``"--"`` for command-line flags)."""
    for name, v in values.items():
        if name not in LOSS_HPARAMS:
            raise ConfigError(f"{where}{name}: not a loss hyper-parameter ({', '.join(LOSS_HPARAMS)})")
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or v < NEUTRAL:
            raise ConfigError(f"{where}{name}={v!r}: the loss hyper-parameters {', '.join(LOSS_HPARAMS)} "
                              f"must be finite numbers >= {NEUTRAL:g}")


@dataclasses.dataclass(frozen=True)
class Loss:
    """One loss of the registry, and the UFM objective ``f(params, data, hparams)`` of that loss.

    ``per_sample(logits (K, N), targets (K, N), hparams, class_mask) -> (N,)`` is the data term
    (the Newton solver and the structured Hessian differentiate it in the logits); it reads its
    hyper-parameters (:data:`LOSS_HPARAMS`) from ``hparams``, which the problem sets to the neutral
    value for those the loss does not take (:meth:`effective`).
    """

    name: str
    per_sample: Callable
    doc: str = ""
    family: str = ""  # losses of one family share one per-sample function (default: its own name)
    hparams: tuple[str, ...] = ()  # the loss hyper-parameters it takes (subset of LOSS_HPARAMS)
    class_curvature: bool = False  # the per-sample Hessian in the logits depends only on the class
    closed_form: ClosedForm | None = None  # its global minimum in closed form (nclandscape.theory)
    no_closed_form: str = ""  # why there is none
    network: Callable | None = None  # (logits (B, K), labels (B,), hparams dict) -> (B,); None: from per_sample
    decomposition: bool = False  # the five-term MSE decomposition (docs/central_path.md) applies
    reduced_layout: str | None = None  # class-reduced dynamics: "shared" / "per_class" layout, None: none
    not_reducible: str = ""  # why the reduced dynamics do not cover it
    fused: bool = False  # the fused reduced kernel implements it (nclandscape.reduced.fused)
    limit: Callable | None = None  # (z, y) -> value replacing the loss on the K = inf polar plane
    limit_offset: str = ""  # what the K = inf limit subtracts (e.g. "log(K-1)")
    polar_s_max: float | None = None  # default s range of the polar landscape (None: 2 M)
    label: str = ""  # name in figure titles

    def __post_init__(self):
        if not self.family:
            object.__setattr__(self, "family", self.name)
        if not self.label:
            object.__setattr__(self, "label", self.name)
        unknown = set(self.hparams) - set(LOSS_HPARAMS)
        if unknown:
            raise ConfigError(f"loss {self.name!r}: unknown hyper-parameter(s) {sorted(unknown)}; "
                              f"choose from {', '.join(LOSS_HPARAMS)}")

    # -- the objective
    def __call__(self, params, data, hparams):
        return _objective(params, data, hparams, self.bind(hparams, data.class_mask))

    def bind(self, hparams, class_mask):
        """The per-sample loss ``(logits, targets) -> (N,)`` with its hyper-parameters fixed."""
        return lambda z, y: self.per_sample(z, y, hparams, class_mask)

    # -- hyper-parameters
    def effective(self, **values) -> dict:
        """The values the loss runs with: the given ones it takes, the neutral value for the others."""
        return {k: (v if k in self.hparams else NEUTRAL) for k, v in values.items()}

    def restrict(self, hparams):
        """``hparams`` (an HParams) with the loss hyper-parameters it does not take set to neutral."""
        return hparams._replace(**{k: jnp.full_like(getattr(hparams, k), NEUTRAL)
                                   for k in LOSS_HPARAMS if k not in self.hparams})

    def check_hparams(self, *, where: str = "", strict: bool = False, **values) -> None:
        """Validate loss hyper-parameter values for this loss: the range (:func:`check_loss_hparams`)
        and, with ``strict``, that those it does not take are left at the neutral value."""
        check_loss_hparams(where=where, **values)
        if strict:
            unused = [k for k, v in values.items() if k not in self.hparams and v != NEUTRAL]
            if unused:
                takers = [n for n, l in LOSSES.items() if set(unused) <= set(l.hparams)]
                flags = "/".join(f"{where}{k}" for k in unused)
                raise ConfigError(f"{flags} apply to loss {' or '.join(takers) or '(none)'} only "
                                  f"(got loss {self.name}); drop them or choose such a loss")

    # -- networks
    @property
    def network_loss(self) -> Callable:
        """``fn(logits (B, K), labels (B,), hparams) -> (B,)`` for networks; ``hparams`` a mapping
        with the keys of :data:`LOSS_HPARAMS`."""
        if self.network is not None:
            return self.network
        per_sample = self.per_sample

        def fn(z, y, hp):
            onehot = jax.nn.one_hot(y, z.shape[-1], dtype=z.dtype)
            return per_sample(z.T, onehot.T, types.SimpleNamespace(**hp), None)

        return fn


def _mse_per_sample(z, y, hparams, class_mask):
    return rescaled_mse_per_sample(z, y, alpha=hparams.alpha, M=hparams.M, class_mask=class_mask)


def _ce_per_sample(z, y, hparams, class_mask):
    return ce_per_sample(z, y, class_mask=class_mask)


def _mse_network(z, y, hp):
    return rescaled_mse(z, y, alpha=hp["alpha"], M=hp["M"])


def _ce_network(z, y, hp):
    return cross_entropy(z, y)


def _ce_limit(z, y):
    """K → ∞: CE − log(K − 1) tends to −z_k (nclandscape.landscape.polar)."""
    return -jnp.sum(z * y, axis=0)


MSE_FAMILY = "mse"  # vanilla and rescaled MSE: one per-sample function, read with different hyper-parameters

LOSSES: dict[str, Loss] = {
    entry.name: entry
    for entry in (
        Loss(MSE_FAMILY, _mse_per_sample, "Vanilla MSE with weight decay: rescaled MSE at alpha = M = 1.",
             family=MSE_FAMILY, class_curvature=True, network=_mse_network, closed_form=MSE_CLOSED_FORM,
             decomposition=True, reduced_layout="shared", fused=True, label="vanilla MSE"),
        Loss("rescaled_mse", _mse_per_sample, "Rescaled MSE with weight decay (MSE paper eq. 4).",
             family=MSE_FAMILY, hparams=LOSS_HPARAMS, class_curvature=True, network=_mse_network,
             no_closed_form="global optimality of rescaled MSE is an open question",
             reduced_layout="per_class", label="rescaled MSE"),
        Loss("ce", _ce_per_sample, "Cross-entropy with weight decay.", network=_ce_network,
             closed_form=CE_CLOSED_FORM,
             not_reducible=("cross-entropy is not reducible: each sample's gradient is a nonlinear function of "
                            "its own logits, so the within-class deviations do not move by one shared linear map"),
             limit=_ce_limit, limit_offset="log(K-1)", polar_s_max=6.0, label="CE"),
    )
}
DEFAULT_LOSS = MSE_FAMILY


def loss_of(name: str) -> Loss:
    """The :class:`Loss` of a name; ConfigError naming the choices if it is not registered."""
    if isinstance(name, str) and name in LOSSES:
        return LOSSES[name]
    raise ConfigError(f"loss={name!r} is not allowed: choose one of {', '.join(LOSSES)}")


def register_loss(entry: Loss, *, replace: bool = False) -> Loss:
    """Add ``entry`` to :data:`LOSSES` (every module then accepts its name); returns it."""
    if entry.name in LOSSES and not replace:
        raise ConfigError(f"loss {entry.name!r} is already registered (pass replace=True)")
    LOSSES[entry.name] = entry
    return entry


def objective_for(loss: str) -> Loss:
    """The objective function of a loss name (any name of :data:`LOSSES`)."""
    return loss_of(loss)


# Names kept from before the registry: the objectives of the two families, and a read-only view.
Objective = Loss
mse_objective = LOSSES[MSE_FAMILY]
ce_objective = LOSSES["ce"]
OBJECTIVES = LOSSES
