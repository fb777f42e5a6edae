"""The engine settings of a sweep (the ``[sweep]`` table): one frozen, validated object.

A TOML spec, the command-line flags and Python callers all fill the same :class:`EngineSettings`;
every value is checked once, in :meth:`EngineSettings.__post_init__`. Which settings change a
row's numbers (and so must match for a resume) is decided here too (:data:`NON_NUMERIC`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from nclandscape.errors import ConfigError
from nclandscape.validate import INT32_MAX
PLOT_KEYS = ("x", "y", "color", "where", "agg")
FUSED_CHOICES = ("auto", "pallas", "xla", "off")
# Settings that do not change a row's numbers: a resume may change them.
NON_NUMERIC = ("chunk_size", "slots", "plots")


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """``x64``: float64 (else float32). ``chunk_size``: configurations per compiled call and per
    Parquet part. ``slots``: lanes per call (a lane whose configuration stops takes the next one).
    ``plots``: phase diagrams to draw. ``hessian``: add Hessian columns. ``dynamics``: auto | full |
    reduced. ``fused``: the fused reduced solver's backend (auto | pallas | xla | off)."""

    x64: bool = False
    chunk_size: int = 1024
    slots: int = 32
    plots: tuple = ()
    hessian: bool = False
    dynamics: str = "auto"
    fused: str = "auto"

    def __post_init__(self):
        for k in ("x64", "hessian"):
            if not isinstance(getattr(self, k), bool):
                raise ConfigError(f"[sweep] {k} = {getattr(self, k)!r}: give true or false (a TOML boolean, unquoted)")
        for k in ("chunk_size", "slots"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= INT32_MAX:
                raise ConfigError(f"[sweep] {k} = {v!r}: give an integer from 1 to {INT32_MAX}")
        from nclandscape.reduced.state import DYNAMICS

        if self.dynamics not in DYNAMICS:
            raise ConfigError(f"[sweep] dynamics = {self.dynamics!r}: choose one of {', '.join(DYNAMICS)}")
        if self.fused not in FUSED_CHOICES:
            raise ConfigError(f"[sweep] fused = {self.fused!r}: choose one of {', '.join(FUSED_CHOICES)}")
        object.__setattr__(self, "plots", _check_plots(self.plots))

    @classmethod
    def from_dict(cls, d: dict | None) -> "EngineSettings":
        """From a ``[sweep]`` table; unknown keys are refused by name."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ConfigError(f"[sweep] must be a table of settings, got {d!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        for k in d:
            if k not in names:
                raise ConfigError(f"unknown [sweep] setting {k!r}: choose from {', '.join(names)}")
        return cls(**d)

    def replace(self, **changes: Any) -> "EngineSettings":
        """A copy with ``changes`` applied (``None`` values are ignored: "not given"), validated."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["plots"] = [dict(p) for p in self.plots]
        return d

    def numeric_dict(self) -> dict:
        """The settings that change a row's numbers (dtype, Hessian columns, dynamics, fused)."""
        return {k: v for k, v in self.to_dict().items() if k not in NON_NUMERIC}

    @property
    def dtype(self):
        """The dtype the sweep runs in; float64 needs ``jax_enable_x64`` (the CLI sets it)."""
        import jax
        import jax.numpy as jnp

        if self.x64 and not jax.config.read("jax_enable_x64"):
            raise ConfigError("the spec asks for x64 = true but JAX runs in float32: call "
                              "jax.config.update('jax_enable_x64', True) first (the CLI does)")
        return jnp.zeros(()).dtype



def _check_plots(plots) -> tuple:
    from nclandscape.sweep.spec import INPUT_COLUMNS

    if not isinstance(plots, (list, tuple)):
        raise ConfigError(f"[sweep] plots = {plots!r}: give a list of {{x = ..., y = ..., color = ...}} tables")
    out = []
    for i, pl in enumerate(plots):
        if not isinstance(pl, dict):
            raise ConfigError(f"[sweep] plots[{i}] = {pl!r}: give a table {{x = ..., y = ..., color = ...}}")
        unknown = sorted(set(pl) - set(PLOT_KEYS))
        if unknown:
            raise ConfigError(f"[sweep] plots[{i}]: unknown key(s) {', '.join(unknown)}: use {', '.join(PLOT_KEYS)}")
        for k in ("x", "y", "color"):
            if not isinstance(pl.get(k), str):
                raise ConfigError(f"[sweep] plots[{i}]: give {k} = a column name")
        for k in ("x", "y"):
            if pl[k] not in INPUT_COLUMNS:
                raise ConfigError(f"[sweep] plots[{i}]: {k} = {pl[k]!r} is not an axis: choose from {', '.join(INPUT_COLUMNS)}")
        where = pl.get("where", {})
        if not isinstance(where, dict) or any(k not in INPUT_COLUMNS for k in where):
            raise ConfigError(f"[sweep] plots[{i}]: where = {where!r}: give a table of axis = value")
        out.append(_Frozen(pl))
    return tuple(out)


class _Frozen(dict):
    """A plot table that cannot change after validation (hashable, so settings stay frozen)."""

    def __hash__(self):
        return hash(repr(sorted(self.items(), key=lambda kv: kv[0])))

    def _refuse(self, *a, **k):
        raise TypeError("engine settings are frozen: build a new EngineSettings with .replace()")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse


DEFAULTS = EngineSettings()
