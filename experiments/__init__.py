"""The experiments: one Python config file per experiment, run by the shared runner of its kind.

    python -m experiments experiments/landscape/fig2.py               # the full run
    python -m experiments experiments/landscape/fig2.py --tiny --out DIR  # the CI-sized run

A config file ``experiments/<kind>/<name>.py`` defines ``get_config(tiny=False)`` (its ``tiny``
variant is what CI runs) and ``RUNNER = "experiments.<kind>.runner:<function>"``; its docstring
gives the command, the expected run time and the expected result. :func:`run` loads the file by
path with :func:`nclandscape.configs.load_config_module`, calls ``runner(config, out_dir)``, and
the runner writes ``config.json`` and its results into ``out_dir`` (default
``experiments/<kind>/results/<name>``, ``<name>_tiny`` for the tiny variant), drawing its figures
from those files. Network-training configs (``experiments/resnet/*.py``,
``experiments/central_path/resnet_mse.py``) name no runner: ``nclandscape train CONFIG`` runs them.
The sweep spec ``experiments/sweeps/default.toml`` is the input of ``nclandscape sweep``.
docs/experiments.md has the rules.
"""
from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from nclandscape.configs import load_config_module
from nclandscape.errors import ConfigError


def default_out(path, tiny: bool = False) -> Path:
    """``experiments/<kind>/results/<name>`` (``<name>_tiny`` for the tiny variant)."""
    p = Path(path)
    return p.parent / "results" / (p.stem + ("_tiny" if tiny else ""))


def resolve_runner(spec: str, path):
    """The function named by a config's ``RUNNER = "module:function"``."""
    module, _, name = str(spec).partition(":")
    if not module or not name:
        raise ConfigError(f"config file {str(path)!r}: RUNNER {spec!r}; write 'module:function'")
    fn = getattr(importlib.import_module(module), name, None)
    if not callable(fn):
        raise ConfigError(f"config file {str(path)!r}: RUNNER {spec!r} names no function")
    return fn


def apply_sets(config: dict, sets, path) -> dict:
    """``["key=value", ...]`` over the config's top-level keys; a value is read as JSON when it
    parses (numbers, lists, true/false/null), otherwise as a string."""
    out = dict(config)
    for s in sets or []:
        key, eq, text = s.partition("=")
        key = key.strip()
        if not eq:
            raise ConfigError(f"--set {s!r}: write key=value")
        if key not in out:
            raise ConfigError(f"--set {key}: not a key of {path}; keys: {', '.join(out)}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def load(path, *, tiny: bool = False, sets=()):
    """``(runner, config)`` of a config file."""
    mod = load_config_module(path)
    if not hasattr(mod, "get_config"):
        raise ConfigError(f"config file {str(path)!r} defines no get_config(tiny=False)")
    if not hasattr(mod, "RUNNER"):
        raise ConfigError(f"config file {str(path)!r} names no RUNNER; a network-training config "
                          f"runs with: nclandscape train {path} --out DIR")
    return resolve_runner(mod.RUNNER, path), apply_sets(mod.get_config(tiny=tiny), sets, path)


def run(path, *, tiny: bool = False, out=None, sets=()):
    """Run a config file (its tiny variant with ``tiny``); returns what its runner returns."""
    runner, config = load(path, tiny=tiny, sets=sets)
    return runner(config, str(out or default_out(path, tiny)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments",
                                 description="Run an experiment config file (docs/experiments.md).")
    ap.add_argument("config", help="config file, e.g. experiments/landscape/fig2.py")
    ap.add_argument("--tiny", action="store_true", help="the config's tiny variant (seconds; what CI runs)")
    ap.add_argument("--out", default=None,
                    help="output folder (default experiments/<kind>/results/<name>[_tiny])")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a top-level config key (repeatable; VALUE read as JSON if it parses)")
    args = ap.parse_args(argv)
    try:
        run(args.config, tiny=args.tiny, out=args.out, sets=args.sets)
    except ConfigError as e:  # a bad config file or value: one line and exit code 2
        ap.error(str(e))
    return 0
