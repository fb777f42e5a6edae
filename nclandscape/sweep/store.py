"""The results folder of a sweep: ``config.json``, Parquet parts written chunk by chunk, and the
consolidated ``results.parquet``.

Crash safety: every part is written to a temporary name and renamed (atomic on POSIX), so a
``kill -9`` leaves either a whole part or none; a resumed sweep reads the ``config_id`` column of
the parts already there and computes only the missing configurations, so no row is lost or
duplicated.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nclandscape.errors import ConfigError

RESULTS = "results.parquet"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


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
        if cfg_path.exists():
            old = json.loads(cfg_path.read_text())
            if old.get("resume_key") != resume_key:
                raise ConfigError(
                    f"{str(self.dir)!r} holds a different sweep (its config.json differs): "
                    "give another --out folder, or delete that one"
                )
        else:
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
