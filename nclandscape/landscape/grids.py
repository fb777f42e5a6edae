"""Grid specifications of the CLI: ``LIST`` = comma-separated items, each a number or ``LO:HI:NUM``.

Numbers may be written with ``pi``: ``pi``, ``-pi``, ``pi/2``, ``0.25pi``, ``3*pi/4``. ``LO:HI:NUM``
is ``numpy.linspace(LO, HI, NUM)`` (both ends included). Items are concatenated in order.
"""
from __future__ import annotations

import math
import re

import numpy as np

from nclandscape.errors import ConfigError

_NUM = re.compile(r"^\s*([+-]?)\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?\s*(\*?\s*pi)?\s*(?:/\s*(\d+\.?\d*))?\s*$")


def parse_number(tok: str, *, what: str = "value") -> float:
    m = _NUM.match(tok)
    if not m or (m.group(2) is None and m.group(3) is None):
        raise ConfigError(f"{what} {tok!r}: write a number, optionally with pi (e.g. -pi, pi/2, 0.5pi)")
    sign = -1.0 if m.group(1) == "-" else 1.0
    coef = float(m.group(2)) if m.group(2) is not None else 1.0
    val = sign * coef * (math.pi if m.group(3) else 1.0)
    if m.group(4) is not None:
        den = float(m.group(4))
        if den == 0:
            raise ConfigError(f"{what} {tok!r}: division by zero")
        val /= den
    return val


def parse_list(spec: str, *, what: str = "LIST") -> np.ndarray:
    """Parse ``"0,0.5,1"``, ``"0:2:21"``, ``"-pi:pi:181"`` or a mix such as ``"0,1:2:3"``."""
    out: list[float] = []
    items = [x for x in str(spec).split(",")]
    if not spec or any(x.strip() == "" for x in items):
        raise ConfigError(f"{what} {spec!r}: give comma-separated numbers and/or LO:HI:NUM ranges")
    for item in items:
        parts = item.split(":")
        if len(parts) == 1:
            out.append(parse_number(parts[0], what=what))
        elif len(parts) == 3:
            lo, hi = parse_number(parts[0], what=what), parse_number(parts[1], what=what)
            try:
                num = int(parts[2])
            except ValueError:
                raise ConfigError(f"{what} {item!r}: NUM in LO:HI:NUM must be an integer") from None
            if num < 1:
                raise ConfigError(f"{what} {item!r}: NUM in LO:HI:NUM must be >= 1")
            from nclandscape.validate import check_memory

            check_memory(f"{what} {item!r}", 8 * (len(out) + num), "lower NUM", host=True)
            out.extend(np.linspace(lo, hi, num).tolist())
        else:
            raise ConfigError(f"{what} {item!r}: write a number or LO:HI:NUM")
    arr = np.asarray(out, np.float64)
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} {spec!r}: every value must be finite")
    return arr


def parse_K(spec) -> float | int:
    """``--K``: an integer >= 2, or ``inf`` for the K → ∞ limit."""
    s = str(spec).strip().lower()
    if s in ("inf", "infinity", "oo"):
        return math.inf
    try:
        K = int(s)
    except ValueError:
        raise ConfigError(f"--K {spec!r}: give an integer >= 2 or inf") from None
    if K < 2:
        raise ConfigError(f"--K {spec!r}: give an integer >= 2 or inf")
    return K
