"""Shared runner pieces: output folder, config.json, JSON-lines results, argument parsing."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os


def parse(doc: str, default_out: str):
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the CI-sized variant (seconds)")
    ap.add_argument("--out", default=default_out, help="output folder (config.json, results.jsonl, PNG)")
    return ap.parse_args()


def start(out: str, config) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=1)
    open(os.path.join(out, "results.jsonl"), "w").close()


def write(out: str, row: dict) -> None:
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def read(out: str) -> list[dict]:
    with open(os.path.join(out, "results.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def here(*parts):
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), *parts)
