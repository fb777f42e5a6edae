"""Atomic checkpoints of a pytree: one ``.npz`` of its leaves plus a JSON ``meta`` entry.

The tree structure comes from a template (a freshly initialised state of the same config), so
any pytree of arrays (flax params, optax states, NamedTuples) round-trips bit for bit. Writes go
to a temporary file in the same folder, are fsync'ed, then ``os.replace``d over the target, so a
kill at any moment leaves either the old or the new checkpoint, never a torn one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from nclandscape.errors import ConfigError


def save(path, tree, meta: dict) -> None:
    path = Path(path)
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]
    arrays = {f"leaf_{i:05d}": a for i, a in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, template):
    """``(tree, meta)`` with ``template``'s structure; shapes and dtypes must match."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            n = len([k for k in z.files if k.startswith("leaf_")])
            leaves = [z[f"leaf_{i:05d}"] for i in range(n)]
    except Exception as e:
        raise ConfigError(f"cannot read checkpoint {str(path)!r} ({type(e).__name__}: {e}); "
                          "delete it to start the run afresh") from e
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(t_leaves) != len(leaves):
        raise ConfigError(f"checkpoint {str(path)!r} has {len(leaves)} arrays, this config needs "
                          f"{len(t_leaves)}; it belongs to another config (use a new --out)")
    for a, t in zip(leaves, t_leaves):
        if a.shape != np.shape(t) or a.dtype != np.asarray(t).dtype:
            raise ConfigError(f"checkpoint {str(path)!r} has an array {a.dtype}{a.shape} where "
                              f"this config needs {np.asarray(t).dtype}{np.shape(t)}")
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(a) for a in leaves]), meta
