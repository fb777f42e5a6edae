"""The configuration of one optimiser benchmark: a problem, optimisers, seeds and recording.

``BenchConfig`` is a frozen dataclass validated on construction; it is written to
``config.json`` in the output folder and compared on resume (everything but the list of
optimisers must agree, so that a resumed run adds only the missing optimisers).
"""
from __future__ import annotations

import dataclasses
import math

from nclandscape.errors import ConfigError
from nclandscape.optimizers import (
    DEFAULT_BENCH_OPTIMIZERS, DEFAULT_MEMORY_SIZE, DEFAULT_MOMENTUM, is_minibatch, optimizer_names, optimizer_spec,
    resolve_optimizer,
)
from nclandscape.ufm import Problem

# Every optimiser name of the registry (nclandscape.optimizers), aliases included.
BENCH_OPTIMIZERS = optimizer_names()
# The papers' defaults: SGD-family lr 0.05 with heavy-ball momentum 0.9, Adam lr 1e-3,
# L-BFGS memory 10 with a zoom (strong Wolfe) line search, which ignores the learning rate.
DEFAULT_SGD_LR = 0.05
DEFAULT_ADAM_LR = 1e-3
DEFAULT_LBFGS_HISTORY = DEFAULT_MEMORY_SIZE
# Keys of config.json that may differ between a run and its resumption.
RESUME_FREE_KEYS = ("optimizers", "lr_overrides", "no_plots")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    # Problem: the fields of nclandscape.ufm.Problem, with its defaults.
    K: int = Problem.K
    n: int = Problem.n
    d: int = Problem.d
    lambda_W: float = Problem.lambda_W
    lambda_H: float = Problem.lambda_H
    lambda_b: float = Problem.lambda_b
    bias: bool = Problem.bias
    loss: str = Problem.loss
    alpha: float = Problem.alpha
    M: float = Problem.M
    class_sizes: tuple[int, ...] | None = Problem.class_sizes
    # Benchmark.
    optimizers: tuple[str, ...] = DEFAULT_BENCH_OPTIMIZERS
    seeds: int = 32
    steps: int = 1000
    record_every: int = 10
    records_per_decade: int | None = None  # if set: log-spaced records (see record_steps)
    batch_size: int | None = None  # minibatch size of the minibatch names (sgd; None: full batch, i.e. GD)
    sgd_lr: float = DEFAULT_SGD_LR
    adam_lr: float = DEFAULT_ADAM_LR
    momentum: float = DEFAULT_MOMENTUM
    lbfgs_history: int = DEFAULT_LBFGS_HISTORY
    lr_overrides: tuple[tuple[str, float], ...] = ()  # ((name, lr), ...) beats sgd_lr / adam_lr
    scale: float = 1.0  # std of the random initialisation
    tol: float | None = None  # stop a seed when ||grad f|| <= tol (solve's rule); None: solve's default
    x64: bool = False
    thresholds: tuple[float, ...] = (1e-3, 1e-6)
    success_gap: float = 1e-5  # a seed "reached the global minimum" when its final gap <= this
    no_plots: bool = False

    def __post_init__(self):
        object.__setattr__(self, "optimizers", tuple(self.optimizers))
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        object.__setattr__(self, "lr_overrides", tuple((str(k), float(v)) for k, v in self.lr_overrides))
        if self.class_sizes is not None:
            object.__setattr__(self, "class_sizes", tuple(int(c) for c in self.class_sizes))
        validate(self)

    def problem(self):
        from nclandscape.ufm import Problem

        return Problem(
            K=self.K, n=self.n, d=self.d, lambda_W=self.lambda_W, lambda_H=self.lambda_H,
            lambda_b=self.lambda_b, bias=self.bias, loss=self.loss, alpha=self.alpha, M=self.M,
            class_sizes=self.class_sizes,
        )

    @property
    def N(self) -> int:
        return self.problem().N

    def lr_of(self, name: str) -> float:
        """The learning rate of an optimiser: ``sgd_lr`` for the sgd family, 1.0 where it plays no
        role (L-BFGS, Newton), ``adam_lr`` for the others; ``lr_overrides`` first."""
        over = dict(self.lr_overrides)
        if name in over:
            return over[name]
        spec = optimizer_spec(name)
        if spec.sgd_family:
            return self.sgd_lr
        if spec.lr_free:
            return 1.0
        return self.adam_lr

    def minibatch(self, name: str) -> bool:
        """Whether optimiser ``name`` runs on minibatches: a minibatch name (the alias ``sgd``,
        nclandscape.optimizers.ALIASES) with batch_size < N."""
        return is_minibatch(name) and self.batch_size is not None and self.batch_size < self.N

    def momentum_of(self, name: str) -> float | None:
        """The heavy-ball coefficient passed to ``name``: ``momentum`` for the optimisers that have
        one by default (momentum, nesterov), none for the others (the sgd and gd rows are plain)."""
        return float(self.momentum) if optimizer_spec(name).momentum is not None else None

    def solve_name(self, name: str) -> str:
        """The name under which ``nclandscape.solve`` runs the same full-batch optimiser."""
        return resolve_optimizer(name)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["class_sizes"] = list(self.class_sizes) if self.class_sizes is not None else None
        d["optimizers"] = list(self.optimizers)
        d["thresholds"] = list(self.thresholds)
        d["lr_overrides"] = [list(x) for x in self.lr_overrides]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "BenchConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("optimizers", "thresholds"):
            if k in kw:
                kw[k] = tuple(kw[k])
        if kw.get("class_sizes") is not None:
            kw["class_sizes"] = tuple(kw["class_sizes"])
        if "lr_overrides" in kw:
            kw["lr_overrides"] = tuple(tuple(x) for x in kw["lr_overrides"])
        return cls(**kw)

    def record_steps(self) -> list[int]:
        """The iterations after which metrics are recorded (step 0 is always recorded too):
        every ``record_every`` steps, or with ``records_per_decade = R`` the distinct integers
        ``round(10^(i/R))`` (so the relative resolution is 10^(1/R) at every scale, at most one
        record per step); ``steps`` is always the last."""
        if self.records_per_decade is None:
            pts = set(range(self.record_every, self.steps + 1, self.record_every))
        else:
            R = self.records_per_decade
            top = int(math.ceil(R * math.log10(max(self.steps, 1)))) + 1
            pts = {int(round(10 ** (i / R))) for i in range(top + 1)}
        pts = {p for p in pts if 0 < p <= self.steps}
        if self.steps > 0:
            pts.add(self.steps)
        return sorted(pts)

    def resume_key(self) -> dict:
        d = self.to_json()
        for k in RESUME_FREE_KEYS:
            d.pop(k)
        return d


def _pos_int(name, v, minimum=1):
    from nclandscape.validate import INT32_MAX

    if not isinstance(v, int) or isinstance(v, bool) or v < minimum or v > INT32_MAX:
        raise ConfigError(f"{name}={v!r} is not allowed: give an integer from {minimum} to {INT32_MAX} (int32)")


def _pos_float(name, v, *, allow_zero=False):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{name}={v!r} is not allowed: give a finite number {'>=' if allow_zero else '>'} 0")


def validate(c: BenchConfig) -> None:
    c.problem()  # validates the problem fields
    if not c.optimizers:
        raise ConfigError("optimizers=(): give at least one of " + ", ".join(BENCH_OPTIMIZERS))
    for name in c.optimizers:
        if name not in BENCH_OPTIMIZERS:
            raise ConfigError(f"optimizer {name!r} is not allowed: choose from {', '.join(BENCH_OPTIMIZERS)}")
    if len(set(c.optimizers)) != len(c.optimizers):
        raise ConfigError(f"optimizers={','.join(c.optimizers)}: each optimiser at most once")
    _pos_int("seeds", c.seeds)
    _pos_int("steps", c.steps, 1)  # 0 steps records nothing to summarise
    _pos_int("record_every", c.record_every)
    if c.records_per_decade is not None:
        _pos_int("records_per_decade", c.records_per_decade)
    if c.batch_size is not None:
        _pos_int("batch_size", c.batch_size)
    _pos_float("sgd_lr", c.sgd_lr)
    _pos_float("adam_lr", c.adam_lr)
    _pos_float("scale", c.scale, allow_zero=True)
    if not isinstance(c.momentum, (int, float)) or not 0 <= c.momentum < 1:
        raise ConfigError(f"momentum={c.momentum!r} is not allowed: give a number in [0, 1)")
    _pos_int("lbfgs_history", c.lbfgs_history)
    for name, lr in c.lr_overrides:
        if name not in BENCH_OPTIMIZERS or optimizer_spec(name).lr_free:
            raise ConfigError(f"lr override {name}={lr}: name one of "
                              f"{', '.join(o for o in BENCH_OPTIMIZERS if not optimizer_spec(o).lr_free)} "
                              "(line-search and trust-region methods set their own step)")
        _pos_float(f"lr of {name}", lr)
    if c.tol is not None:
        _pos_float("tol", c.tol, allow_zero=True)
    if not c.thresholds:
        raise ConfigError("thresholds=(): give at least one gap threshold")
    for t in c.thresholds:
        _pos_float("gap threshold", t)
    _pos_float("success_gap", c.success_gap)
