"""Atomic file writes: a file is written to a hidden temporary name beside it and renamed, so a
full disk, a read-only folder, Ctrl-C or ``kill -9`` leaves either the whole new file or the old
one, never a torn one; the temporary file is removed on any failure (a ``kill -9`` can leave one
hidden ``.NAME.*.tmp`` file, which nothing reads).

An ``OSError`` raised while writing carries the path of the file (``e.filename``), so that the
command line can name it.
"""
from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path
from typing import Callable


def tmp_path(path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path, write: Callable[[str], None], *, fsync: bool = False) -> None:
    """Call ``write(tmp)`` for a temporary path beside ``path``, then rename it to ``path``."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        write(str(tmp))
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not e.filename:  # name the file (pyarrow's errors do not)
            raise OSError(e.errno or errno.EIO, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_bytes(path, data: bytes, *, fsync: bool = True) -> None:
    def w(p):
        with open(p, "wb") as f:
            f.write(data)

    atomic_write(path, w, fsync=fsync)


def atomic_write_text(path, text: str, *, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode(), fsync=fsync)


def atomic_savefig(fig, path, **kwargs) -> None:
    """``fig.savefig(path, **kwargs)`` through a temporary file (format from the suffix)."""
    fmt = kwargs.pop("format", None) or Path(path).suffix.lstrip(".") or "png"
    atomic_write(path, lambda p: fig.savefig(p, format=fmt, **kwargs))
