"""Pieces the runners share: float64 scope, config.json and JSON-lines files."""
from __future__ import annotations

import functools
import json
import os


def float64(fn):
    """Run ``fn`` with float64 enabled, and restore the previous setting when it returns: a switch
    made by the run, never by an import. (The setting is flipped process-wide for the call, not
    with the thread-local ``jax.enable_x64`` context: host callbacks, such as the Newton solver's,
    run on other threads and must see float64 too.)"""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import jax

        before = bool(jax.config.jax_enable_x64)
        jax.config.update("jax_enable_x64", True)
        try:
            return fn(*args, **kwargs)
        finally:
            jax.config.update("jax_enable_x64", before)

    return wrapper


def write_config(out: str, config: dict, indent: int = 1) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=indent)


def write_jsonl(path: str, rows) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def append_jsonl(path: str, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
