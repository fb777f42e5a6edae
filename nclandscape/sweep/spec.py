"""Sweep specifications: axes of hyper-parameters combined by products and zips.

A spec is a small TOML file (or the same axes from the command line)::

    [sweep]                      # engine settings (all optional; nclandscape.sweep.settings)
    x64 = false
    chunk_size = 1024            # configurations per compiled call (one Parquet part each)
    slots = 32                   # lanes per call; a lane that finishes takes the next configuration
    dynamics = "auto"            # auto | full | reduced (exact class-reduced dynamics, docs/reduced.md)
    fused = "auto"               # reduced GD/heavy-ball/Nesterov on vanilla MSE: auto | pallas | xla | off
    plots = [{x = "lambda_W", y = "lambda_H", color = "nc2", where = {d = 9}}]

    [fixed]                      # one value each
    K = 10
    n = 5
    steps_max = 200

    [grid]                       # Cartesian product of these axes
    lambda_W = {logspace = [1e-5, 1e-1, 26]}    # 26 log-spaced values from 1e-5 to 1e-1
    lambda_H = {logspace = [1e-5, 1e-1, 26]}
    d = [4, 9, 16]

    [[zip]]                      # axes taken together, element by element (equal lengths);
    K = [5, 10]                  # every [[zip]] group is itself one axis of the product
    d = [4, 9]

Axis values: a scalar, a list, ``{logspace = [LO, HI, NUM]}`` (geometric, LO and HI are values),
``{linspace = [LO, HI, NUM]}``, ``{range = [START, STOP, STEP]}`` (integers, STOP excluded).
From the command line: ``--set NAME=VALUE``, ``--grid NAME=v1,v2,...``,
``--logspace NAME=LO:HI:NUM``, ``--linspace NAME=LO:HI:NUM``, ``--zip NAME=v1,v2 NAME2=w1,w2``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.objectives import DEFAULT_LOSS
from nclandscape.optimizers import DEFAULT_OPTIMIZER
from nclandscape.validate import INT32_MAX

# name -> (type, default). Order = column order of the results table.
INPUT_COLUMNS: dict[str, tuple[type, Any]] = {
    "K": (int, 10),
    "n": (int, 5),
    "d": (int, 12),
    "lambda_W": (float, 1e-3),
    "lambda_H": (float, 1e-3),
    "lambda_b": (float, 1e-3),
    "loss": (str, DEFAULT_LOSS),
    "alpha": (float, 1.0),
    "M": (float, 1.0),
    "bias": (bool, True),
    "optimizer": (str, DEFAULT_OPTIMIZER),
    "lr": (float, float("nan")),  # NaN: the optimiser's default
    "steps_max": (int, 500),
    "seed": (int, 0),
    "scale": (float, 1.0),
    "tol": (float, float("nan")),  # NaN: 1e-10 in float64, 1e-5 in float32
}

def _canon(v):
    """A hashable key of an axis value with NaN equal to NaN (for duplicate detection)."""
    return repr(v) if isinstance(v, float) else (type(v).__name__, v)


def _coerce(name: str, v):
    typ = INPUT_COLUMNS[name][0]
    if typ is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false", "1", "0", "yes", "no"):
            return v.lower() in ("true", "1", "yes")
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        raise ConfigError(f"{name}={v!r}: give true or false")
    if typ is int:
        if isinstance(v, bool):
            raise ConfigError(f"{name}={v!r}: give an integer")
        if isinstance(v, int):
            i = v
        else:
            try:
                i = int(v.strip()) if isinstance(v, str) else None
            except ValueError:
                i = None
            if i is None:
                try:
                    f = float(v)
                except (TypeError, ValueError, OverflowError):
                    raise ConfigError(f"{name}={v!r}: give an integer") from None
                if not math.isfinite(f) or f != int(f):
                    raise ConfigError(f"{name}={v!r}: give an integer")
                i = int(f)
        if not 0 <= i <= INT32_MAX:
            raise ConfigError(f"{name}={v!r}: give an integer from 0 to {INT32_MAX} (int32 limit)")
        return i
    if typ is float:
        if isinstance(v, bool):
            raise ConfigError(f"{name}={v!r}: give a number")
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{name}={v!r}: give a number") from None
    return str(v)


def _check_name(name: str) -> str:
    if name not in INPUT_COLUMNS:
        raise ConfigError(f"unknown axis {name!r}: choose from {', '.join(INPUT_COLUMNS)}")
    return name


def expand_values(name: str, spec) -> list:
    """The list of values of one axis from its spec (scalar, list or range dict)."""
    _check_name(name)
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise ConfigError(f"{name}: give exactly one of logspace, linspace, range")
        (kind, args), = spec.items()
        try:
            if kind == "logspace":
                lo, hi, num = args
                if lo <= 0 or hi <= 0:
                    raise ConfigError(f"{name}: logspace needs LO > 0 and HI > 0, got {lo}, {hi}")
                vals = np.geomspace(float(lo), float(hi), int(num)).tolist()
            elif kind == "linspace":
                lo, hi, num = args
                vals = np.linspace(float(lo), float(hi), int(num)).tolist()
            elif kind == "range":
                vals = list(range(*[int(a) for a in args]))
            else:
                raise ConfigError(f"{name}: unknown range kind {kind!r}: use logspace, linspace or range")
        except ConfigError:
            raise
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: {kind} needs [LO, HI, NUM], got {args!r}") from None
    elif isinstance(spec, (list, tuple)):
        vals = list(spec)
    else:
        vals = [spec]
    if not vals:
        raise ConfigError(f"{name}: the axis has no values")
    return [_coerce(name, v) for v in vals]


def _check_distinct(name: str, vals: list) -> list:
    """A product axis lists each value once (else the sweep repeats configurations)."""
    seen = set()
    for v in vals:
        if _canon(v) in seen:
            raise ConfigError(f"{name}: the value {v!r} is given more than once: list each value once")
        seen.add(_canon(v))
    return vals


class SweepSpec:
    """Fixed values, product axes and zip groups; ``configs()`` lists every configuration.
    ``engine``: the ``[sweep]`` settings, a dict or an :class:`~nclandscape.sweep.settings.EngineSettings`."""

    def __init__(self, fixed=None, grid=None, zips=None, engine=None):
        self.fixed = {_check_name(k): _coerce(k, v) for k, v in (fixed or {}).items()}
        self.grid = {k: _check_distinct(k, expand_values(k, v)) for k, v in (grid or {}).items()}
        self.zips = []
        for group in zips or []:
            g = {k: expand_values(k, v) for k, v in group.items()}
            lens = {len(v) for v in g.values()}
            if len(lens) > 1:
                raise ConfigError(f"zip group {sorted(g)} has axes of different lengths {sorted(lens)}")
            tuples = [tuple(_canon(x) for x in t) for t in zip(*g.values())]
            if len(set(tuples)) != len(tuples):
                raise ConfigError(f"zip group {sorted(g)} lists the same combination more than once: list each once")
            self.zips.append(g)
        from nclandscape.sweep.settings import EngineSettings

        self.engine = engine if isinstance(engine, EngineSettings) else EngineSettings.from_dict(engine)
        names = list(self.fixed) + list(self.grid) + [k for g in self.zips for k in g]
        dup = {k for k in names if names.count(k) > 1}
        if dup:
            raise ConfigError(f"axes given more than once: {', '.join(sorted(dup))}")

    @classmethod
    def from_toml(cls, path) -> "SweepSpec":
        from nclandscape.validate import read_text

        path = Path(path)
        try:
            raw = tomllib.loads(read_text(path, "sweep spec"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"sweep spec {str(path)!r} is not valid TOML: {e}") from None
        unknown = set(raw) - {"sweep", "fixed", "grid", "zip"}
        if unknown:
            raise ConfigError(f"{path}: unknown sections {sorted(unknown)}: use [sweep], [fixed], [grid], [[zip]]")
        if not raw:
            raise ConfigError(f"sweep spec {str(path)!r} is empty: give [fixed], [grid] or [[zip]] values")
        for k, typ in (("fixed", dict), ("grid", dict), ("zip", list), ("sweep", dict)):
            if k in raw and not isinstance(raw[k], typ):
                raise ConfigError(f"sweep spec {str(path)!r}: {k} must be a {'table' if typ is dict else 'list of tables [[zip]]'}")
        try:
            return cls(raw.get("fixed"), raw.get("grid"), raw.get("zip"), raw.get("sweep"))
        except ConfigError as e:
            raise ConfigError(f"sweep spec {str(path)!r}: {e}") from None

    def to_dict(self) -> dict:
        return {"fixed": self.fixed, "grid": self.grid, "zip": self.zips, "sweep": self.engine.to_dict()}

    def axes(self) -> list[tuple[list[str], list[tuple]]]:
        axes = [([k], [(v,) for v in vals]) for k, vals in self.grid.items()]
        for g in self.zips:
            keys = list(g)
            axes.append((keys, list(zip(*[g[k] for k in keys]))))
        return axes

    def configs(self) -> list[dict]:
        base = {k: d for k, (_, d) in INPUT_COLUMNS.items()}
        base.update(self.fixed)
        axes = self.axes()
        out = []
        for combo in itertools.product(*[vals for _, vals in axes]):
            c = dict(base)
            for (keys, _), values in zip(axes, combo):
                c.update(zip(keys, values))
            out.append(c)
        return out

    def __len__(self) -> int:
        return math.prod(len(v) for _, v in self.axes())


def config_id(config: dict) -> str:
    """A stable id of a configuration's inputs (resume key)."""
    canon = {k: (repr(float(config[k])) if INPUT_COLUMNS[k][0] is float else config[k]) for k in INPUT_COLUMNS}
    return hashlib.sha1(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:16]


def parse_cli_axes(sets=(), grids=(), logspaces=(), linspaces=(), zips=()) -> tuple[dict, dict, list]:
    """Turn ``--set/--grid/--logspace/--linspace/--zip`` strings into (fixed, grid, zips)."""

    def split(item, flag):
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r}: write NAME=VALUE")
        k, v = item.split("=", 1)
        return _check_name(k.strip()), v.strip()

    fixed, grid, zgroups = {}, {}, []
    for item in sets:
        k, v = split(item, "--set")
        fixed[k] = v
    for item in grids:
        k, v = split(item, "--grid")
        grid[k] = [x for x in v.split(",") if x != ""]
    for flag, kind, items in (("--logspace", "logspace", logspaces), ("--linspace", "linspace", linspaces)):
        for item in items:
            k, v = split(item, flag)
            parts = v.split(":")
            if len(parts) != 3:
                raise ConfigError(f"{flag} {item!r}: write NAME=LO:HI:NUM")
            try:
                grid[k] = {kind: [float(parts[0]), float(parts[1]), int(parts[2])]}
            except ValueError:
                raise ConfigError(f"{flag} {item!r}: LO and HI must be numbers and NUM an integer") from None
    for group in zips:
        g = {}
        for item in group:
            k, v = split(item, "--zip")
            g[k] = [x for x in v.split(",") if x != ""]
        zgroups.append(g)
    return fixed, grid, zgroups
