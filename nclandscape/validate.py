"""Checks that every command runs on its inputs before any work is done or any file written.

Each check raises :class:`nclandscape.errors.ConfigError` with one line naming the field (or
file) and what to change; the command line prints it as ``nclandscape CMD: error: ...`` and exits
with code 2 (see docs/errors.md). Nothing here imports jax, so validation is fast.

Memory: :func:`check_memory` compares an estimate of the bytes a command will hold at once with
the memory available now (``MemAvailable`` of ``/proc/meminfo``, or the free memory of the first
accelerator when JAX already runs on one) and refuses with the estimate and what to lower.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from nclandscape.errors import ConfigError

INT32_MAX = 2**31 - 1  # array sizes, steps and seeds become int32 inside compiled programs

# Fraction of the available memory a command may plan to use (the estimates are rough: the
# compiler adds temporaries, and other processes share the machine).
MEMORY_FRACTION = 0.8


def _is_int(v) -> bool:
    import numbers

    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_int(field: str, v, *, lo: int | None = None, hi: int = INT32_MAX) -> int:
    """``v`` as an int in ``[lo, hi]`` (``hi`` defaults to the int32 maximum)."""
    if not _is_int(v):
        raise ConfigError(f"{field} {v!r}: give an integer")
    if lo is not None and v < lo:
        raise ConfigError(f"{field} {v}: give an integer >= {lo}")
    if v > hi:
        why = " (the int32 limit of compiled programs)" if hi == INT32_MAX else ""
        raise ConfigError(f"{field} {v}: give an integer <= {hi}{why}")
    return int(v)


def check_float(field: str, v, *, lo: float | None = None, lo_open: bool = False,
                hi: float | None = None, hi_open: bool = False, allow_none: bool = False) -> float | None:
    """``v`` as a finite float in the interval (NaN and infinities refused)."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise ConfigError(f"{field} {v!r}: give a number")
    f = float(v)
    if not math.isfinite(f):
        raise ConfigError(f"{field} {v!r}: give a finite number")
    if lo is not None and (f <= lo if lo_open else f < lo):
        raise ConfigError(f"{field} {v!r}: give a number {'>' if lo_open else '>='} {lo:g}")
    if hi is not None and (f >= hi if hi_open else f > hi):
        raise ConfigError(f"{field} {v!r}: give a number {'<' if hi_open else '<='} {hi:g}")
    return f


def check_choice(field: str, v, choices) -> str:
    if v not in choices:
        raise ConfigError(f"{field} {v!r} is not allowed: choose one of {', '.join(map(str, choices))}")
    return v


# --------------------------------------------------------------------------------------- memory

def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def _device_free_bytes() -> int | None:
    if "jax" not in sys.modules:
        return None
    try:
        import jax

        if jax.default_backend() == "cpu":
            return None
        stats = jax.devices()[0].memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    except Exception:  # no stats on this backend: fall back to host memory
        return None
    return None


def available_memory(host: bool = False) -> tuple[int, str]:
    """(bytes available now, where): the accelerator's free memory (when JAX runs on one and
    ``host`` is false) or the host's MemAvailable."""
    dev = None if host else _device_free_bytes()
    if dev is not None:
        return dev, "device memory"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "memory"
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "memory"
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**62, "memory"


def check_memory(what: str, nbytes: float, change: str, *, host: bool = False) -> None:
    """Refuse when ``nbytes`` exceeds the usable share of the available memory (``host``: the
    work runs in NumPy/Python on the host, not on the accelerator)."""
    avail, where = available_memory(host=host)
    if nbytes > MEMORY_FRACTION * avail:
        raise ConfigError(f"{what} needs about {fmt_bytes(nbytes)}, more than the {fmt_bytes(avail)} of "
                          f"{where} available: {change}")


def problem_floats(K: int, N: int, d: int) -> int:
    """Floats of one UFM problem's parameters and data: W, H, b and the (K, N) label matrix."""
    return K * d + d * N + K + K * N


def solver_bytes(K: int, N: int, d: int, itemsize: int, *, copies: int = 24) -> int:
    """Rough peak of a solve: ~``copies`` parameter-sized buffers (L-BFGS keeps 2 x 10 history
    vectors, gradients and line-search points), the (K, N) logits/labels/metric temporaries and the
    per-class (d, d) Grams of the NC metrics."""
    P = K * d + d * N + K
    return itemsize * (copies * P + 4 * K * N + K * d * d)


# --------------------------------------------------------------------------------------- paths

def check_out_file(flag: str, path) -> Path:
    """An output file: a non-empty path whose folder exists (or can be created) and that is no folder."""
    if path is None or str(path).strip() == "":
        raise ConfigError(f"{flag} {path!r}: give a file path")
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {str(p)!r} is a folder: give a file path (e.g. {str(p / 'out.png')!r})")
    parent = p.parent if str(p.parent) else Path(".")
    _check_parent(flag, p, parent)
    return p


def check_out_dir(flag: str, path) -> Path:
    """An output folder: a non-empty path that is not an existing file, under a usable folder."""
    if path is None or str(path).strip() == "":
        raise ConfigError(f"{flag} {path!r}: give a folder path")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {str(p)!r} is a file: give a folder path")
    _check_parent(flag, p, p.parent)
    return p


def _check_parent(flag: str, p: Path, parent: Path) -> None:
    anc = parent
    while not anc.exists():  # the first existing ancestor must be a folder
        if anc == anc.parent:
            break
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise ConfigError(f"{flag} {str(p)!r}: {str(anc)!r} is a file, not a folder")


def read_json(path, what: str):
    """The JSON value of a file, or a ConfigError naming the file."""
    import json

    try:
        return json.loads(read_text(path, what))
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{what} {str(path)!r} is not valid JSON ({e}): repair or delete it") from None


def read_text(path, what: str) -> str:
    """The UTF-8 text of a file, or a ConfigError naming the file."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {str(p)!r} is a folder: give a file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {str(p)!r} is not UTF-8 text (byte {e.start}): give a text file") from None
    except PermissionError:
        raise ConfigError(f"{what} {str(p)!r} cannot be read (permission denied)") from None
