"""The optimiser registry: every optimiser name of the library, what it is and what may run it.

``OPTIMIZERS`` maps each canonical name to an :class:`OptimizerSpec` (built once, here); every
other module (``solve``, the sweep engine, ``optbench``, the ResNet trainer ``nets``, the reduced
dynamics and the fused kernel) looks names up in it instead of keeping its own list.
:func:`make_optimizer` is the one factory of optax transformations.

Aliases (:data:`ALIASES`) are other names for a canonical optimiser, accepted wherever a name is:

* ``sgd`` → ``gd``. *Stochastic gradient descent*: optax's ``sgd`` transformation, one plain
  gradient step per minibatch. Its heavy-ball coefficient is a hyper-parameter, none unless the
  caller passes one (:func:`make_optimizer` ``momentum=``), exactly as ``optax.sgd`` and
  ``torch.optim.SGD``. The name is marked ``minibatch``: a caller that can step on minibatches does
  so for ``sgd`` and on the full batch for ``gd`` (``nclandscape optbench --batch-size``; at full
  batch the two are the same run). The ResNet trainer always steps on minibatches and passes its
  config's ``momentum`` (0.9 by default) to every optimiser of the sgd family, so its
  ``optimizer=sgd`` is SGD with heavy-ball momentum 0.9, the papers' recipe; ``optbench`` passes
  its ``--momentum`` only to ``momentum`` and ``nesterov`` (its ``sgd`` and ``gd`` rows are plain).

Adding an optimiser: one :class:`OptimizerSpec` entry below (its optax factory, default learning
rate and flags); nothing else names it.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import optax

from nclandscape.errors import ConfigError

DEFAULT_MOMENTUM = 0.9  # heavy-ball coefficient of `momentum` and `nesterov` (and the fused kernel)
DEFAULT_MEMORY_SIZE = 10  # L-BFGS history
LBFGS_LINESEARCH_STEPS = 30  # zoom (strong Wolfe) line-search iterations of the UFM solvers


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser: how to build it and which parts of the library can run it.

    ``factory(learning_rate, *, momentum, memory_size, linesearch) -> optax.GradientTransformation``
    (None for a method that is not an optax transformation: then ``solver(objective, data,
    hparams) -> nclandscape.solve.Solver`` runs it).
    """

    name: str
    factory: Callable | None
    lr: float  # default learning rate (the UFM solvers, the sweep engine)
    lr_free: bool = False  # the learning rate plays no role (line search / trust region)
    momentum: float | None = None  # default heavy-ball coefficient (None: none)
    nesterov: bool = False
    sgd_family: bool = False  # an optax.sgd transformation: takes a `momentum` hyper-parameter
    line_search: bool = False  # its update needs value, grad and value_fn (optax L-BFGS)
    reducible: bool = False  # the class-reduced dynamics reproduce it exactly (docs/reduced.md)
    not_reducible: str = ""  # why not, when there is a reason beyond "not covered"
    fused: bool = False  # the fused reduced-MSE kernel implements it (nclandscape.reduced.fused)
    networks: bool = True  # the ResNet trainer (nclandscape.nets) can run it
    solver: Callable | None = None  # a non-optax method's Solver factory
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class Alias:
    """Another name of a canonical optimiser (see the module docstring)."""

    target: str
    minibatch: bool = False  # callers that can step on minibatches do so for this name
    doc: str = ""


def _sgd_factory(nesterov: bool):
    def make(learning_rate, *, momentum=None, **_):
        kw = {"learning_rate": learning_rate}
        if momentum is not None:
            kw["momentum"] = momentum
        if nesterov:
            kw["nesterov"] = True
        return optax.inject_hyperparams(optax.sgd)(**kw)

    return make


def _adam_factory(learning_rate, **_):
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)


def _lbfgs_factory(learning_rate, *, memory_size=DEFAULT_MEMORY_SIZE, linesearch=None, **_):
    if linesearch is None:
        linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=LBFGS_LINESEARCH_STEPS, verbose=False)
    kw = {} if learning_rate is None else {"learning_rate": learning_rate}
    return optax.lbfgs(**kw, memory_size=memory_size, linesearch=linesearch)


def _newton_solver(objective, data, hparams):
    from nclandscape.solve import newton_solver

    return newton_solver(objective, data, hparams)


_ADAM_NOT_REDUCIBLE = ("adam is not reducible: it rescales every coordinate by its own second-moment estimate, "
                       "which does not commute with the change to class-mean/deviation coordinates")

OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec("gd", _sgd_factory(False), lr=0.1, sgd_family=True, reducible=True, fused=True,
                      doc="gradient descent (optax.sgd; momentum only if the caller passes one)"),
        OptimizerSpec("momentum", _sgd_factory(False), lr=0.05, momentum=DEFAULT_MOMENTUM, sgd_family=True,
                      reducible=True, fused=True, doc="heavy-ball momentum (optax.sgd with momentum)"),
        OptimizerSpec("nesterov", _sgd_factory(True), lr=0.05, momentum=DEFAULT_MOMENTUM, nesterov=True,
                      sgd_family=True, reducible=True, fused=True, doc="Nesterov momentum (optax.sgd, nesterov=True)"),
        OptimizerSpec("adam", _adam_factory, lr=1e-3, not_reducible=_ADAM_NOT_REDUCIBLE, doc="Adam (optax.adam)"),
        OptimizerSpec("lbfgs", _lbfgs_factory, lr=1.0, lr_free=True, line_search=True, reducible=True,
                      doc="L-BFGS with a zoom (strong Wolfe) line search (optax.lbfgs)"),
        OptimizerSpec("newton", None, lr=1.0, lr_free=True, networks=False, solver=_newton_solver,
                      doc="exact damped Newton on the UFM (nclandscape.newton); not an optax method"),
    )
}

ALIASES: dict[str, Alias] = {
    "sgd": Alias("gd", minibatch=True,
                 doc="stochastic gradient descent: gd steps, on minibatches where the caller draws them"),
}

# Defaults of the entry points (each names a registered optimiser).
DEFAULT_OPTIMIZER = "lbfgs"  # solve, hessian --at solve, sweeps
DEFAULT_TRAIN_OPTIMIZER = "sgd"  # the ResNet trainer (with its momentum 0.9: the papers' SGD)
DEFAULT_BENCH_OPTIMIZERS = ("sgd", "momentum", "adam", "lbfgs")  # nclandscape optbench --optimizers


def optimizer_names(*, aliases: bool = True) -> tuple[str, ...]:
    """Every accepted optimiser name: the canonical ones, then the aliases."""
    return (*OPTIMIZERS, *ALIASES) if aliases else tuple(OPTIMIZERS)


def resolve_optimizer(name: str) -> str:
    """The canonical name of ``name`` (itself, or an alias's target); ConfigError if unknown."""
    if isinstance(name, str) and name in OPTIMIZERS:
        return name
    if isinstance(name, str) and name in ALIASES:
        return ALIASES[name].target
    raise ConfigError(f"optimizer={name!r} is not allowed: choose one of {', '.join(optimizer_names())}")


def optimizer_spec(name: str) -> OptimizerSpec:
    """The :class:`OptimizerSpec` of a canonical name or alias; ConfigError if unknown."""
    return OPTIMIZERS[resolve_optimizer(name)]


def is_minibatch(name: str) -> bool:
    """Whether ``name`` asks for minibatch steps where the caller can take them (``sgd``)."""
    return isinstance(name, str) and name in ALIASES and ALIASES[name].minibatch


def make_optimizer(name: str, *, learning_rate=None, momentum=None, memory_size: int = DEFAULT_MEMORY_SIZE,
                   linesearch=None) -> optax.GradientTransformation:
    """The optax transformation of an optimiser name (aliases allowed).

    ``learning_rate``: a number or an optax schedule; for the injected optimisers (all but L-BFGS)
    it is a hyper-parameter of the state (``nclandscape.solve.init_opt_state`` sets it per
    configuration; None puts the default learning rate there). L-BFGS uses it as the first trial
    step of its line search (None: optax's default). ``momentum``: the heavy-ball coefficient of
    an sgd-family optimiser (None: its default, :data:`DEFAULT_MOMENTUM` for ``momentum`` and
    ``nesterov``, none for ``gd``). ``memory_size``, ``linesearch``: L-BFGS's history and line
    search (None: zoom, :data:`LBFGS_LINESEARCH_STEPS` iterations).
    """
    spec = optimizer_spec(name)
    if spec.factory is None:
        raise ConfigError(f"optimizer={spec.name!r} is not an optax transformation: use solve() or make_solver()")
    if momentum is not None and not spec.sgd_family:
        raise ConfigError(f"optimizer={name!r} takes no momentum")
    if learning_rate is None and not spec.line_search:
        learning_rate = spec.lr
    momentum = spec.momentum if momentum is None else momentum
    return standard_promotion(spec.factory(learning_rate, momentum=momentum, memory_size=memory_size,
                                           linesearch=linesearch))


def standard_promotion(tx: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``tx`` with its ``init`` and ``update`` traced under JAX's standard dtype promotion.

    optax's L-BFGS and zoom line search add int32 and int64 counters internally; under
    ``jax_numpy_dtype_promotion="strict"`` (the test suite's setting, which catches silent
    promotions in this package) that raises. The numbers are unchanged: only the promotion rule
    applied inside optax differs.
    """
    tx = optax.with_extra_args_support(tx)

    def init(params):
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update(updates, state, params=None, **extra):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params, **extra)

    return optax.GradientTransformationExtraArgs(init, update)


__all__ = [
    "ALIASES", "Alias", "DEFAULT_BENCH_OPTIMIZERS", "DEFAULT_MEMORY_SIZE", "DEFAULT_MOMENTUM", "DEFAULT_OPTIMIZER",
    "DEFAULT_TRAIN_OPTIMIZER", "LBFGS_LINESEARCH_STEPS", "OPTIMIZERS", "OptimizerSpec", "is_minibatch",
    "make_optimizer", "optimizer_names", "optimizer_spec", "resolve_optimizer", "standard_promotion",
]
