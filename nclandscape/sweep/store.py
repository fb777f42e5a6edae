"""The results folder of a sweep: ``config.json``, Parquet parts written chunk by chunk, and the
consolidated ``results.parquet``.

Crash safety: every part is written to a temporary name and renamed (atomic on POSIX), so a
``kill -9`` leaves either a whole part or none; a resumed sweep reads the ``config_id`` column of
the parts already there and computes only the missing configurations, so no row is lost or
duplicated.

Resume: ``config.json`` keeps the sweep's ``resume_key``; a rerun must give an equal key, compared
with NaN equal to NaN (NaN is the documented "default" of lr and tol). A folder whose run wrote no
part yet (it failed or was stopped before its first chunk) is not locked: a different sweep may
take it over.
"""
from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nclandscape.errors import ConfigError
from nclandscape.fileio import atomic_write, atomic_write_bytes

RESULTS = "results.parquet"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, fsync=True)


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    atomic_write(path, lambda p: pq.write_table(table, p))


def same_value(a, b) -> bool:
    """Equality of JSON-like values with NaN equal to NaN (and 1 equal to 1.0, as JSON reads it)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def key_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the entries where two resume keys differ (NaN-equal)."""
    out = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += key_differences(a, b, f"{prefix}{k}.")
        elif not same_value(a, b):
            out.append(f"{prefix}{k}")
    return out


class ResultStore:
    def __init__(self, out_dir):
        self.dir = Path(out_dir)
        self.parts = self.dir / "parts"

    def open(self, config: dict, *, resume_key: dict) -> None:
        """Create the folder, or check that it holds the same sweep (``resume_key``)."""
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the output folder {str(self.dir)!r}: {e.strerror}") from None
        cfg_path = self.dir / "config.json"
        # Round-trip the new key through JSON so both sides have JSON's types (tuples -> lists).
        new = json.loads(json.dumps(resume_key))
        if cfg_path.exists():
            try:
                old = json.loads(cfg_path.read_text(encoding="utf-8")).get("resume_key") or {}
            except (ValueError, AttributeError):
                old = None
            if old is not None and same_value(old, new):
                return
            if self.part_files():
                if old is None:
                    raise ConfigError(f"{str(cfg_path)!r} is not valid JSON: give another --out folder, or delete that one")
                diff = key_differences(old, new)
                raise ConfigError(
                    f"{str(self.dir)!r} holds a different sweep (config.json differs in {', '.join(diff[:5])}): "
                    "give another --out folder, or delete that one"
                )
        # A new folder, or one whose run wrote no results (it does not lock the folder).
        _atomic_write_bytes(cfg_path, json.dumps({**config, "resume_key": resume_key}, indent=2).encode())

    def write_json(self, name: str, obj) -> Path:
        """Write ``name`` in the folder atomically (JSON)."""
        path = self.dir / name
        _atomic_write_bytes(path, json.dumps(obj, indent=2).encode())
        return path

    def part_files(self) -> list[Path]:
        return sorted(p for p in self.parts.glob("part-*.parquet"))

    def done_ids(self) -> set[str]:
        ids: set[str] = set()
        for p in self.part_files():
            ids.update(pq.read_table(p, columns=["config_id"]).column("config_id").to_pylist())
        return ids

    def write_part(self, rows: list[dict], tag: str) -> Path:
        path = self.parts / f"part-{tag}-{uuid.uuid4().hex[:8]}.parquet"
        _atomic_write_table(path, pa.Table.from_pylist(rows))
        return path

    def consolidate(self) -> pa.Table:
        """All parts as one table sorted by configuration index, written to results.parquet."""
        tables = [pq.read_table(p) for p in self.part_files()]
        if not tables:
            raise ConfigError(f"{str(self.dir)!r} has no results yet")
        table = pa.concat_tables(tables, promote_options="default")
        # Drop duplicates defensively (a part is only ever written once per configuration).
        ids = table.column("config_id").to_pylist()
        seen, keep = set(), []
        for i, c in enumerate(ids):
            if c not in seen:
                seen.add(c)
                keep.append(i)
        table = table.take(keep).sort_by("index")
        _atomic_write_table(self.dir / RESULTS, table)
        return table


def read_results(out_dir) -> pa.Table:
    """The results table of a sweep folder (consolidated, or assembled from its parts)."""
    d = Path(out_dir)
    if not d.is_dir():
        raise ConfigError(f"{str(d)!r} is not a folder: give a sweep's --out folder")
    if (d / RESULTS).exists():
        return pq.read_table(d / RESULTS)
    parts = sorted((d / "parts").glob("part-*.parquet"))
    if not parts:
        raise ConfigError(f"{str(d)!r} holds no sweep results (no {RESULTS}, no parts/)")
    return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default").sort_by("index")
