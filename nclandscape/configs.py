"""Experiment config files: the one loader for every config under ``experiments/``.

An experiment is one Python file whose ``get_config(tiny=False)`` returns its configuration (the
``tiny`` variant is the CI-sized run) and whose docstring gives the command, the expected run time
and the expected result (docs/experiments.md). ``nclandscape train`` (network-training configs) and
``python -m experiments`` (every other config) both load the file through :func:`load_config_module`,
by path, so a config needs no import path of its own.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from nclandscape.errors import ConfigError


def load_config_module(path):
    """Execute a config file and return it as a module (``get_config``, ``variants``, ``RUNNER``,
    and optional figure settings such as ``FEATURE_SCATTER_PER_CLASS``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found; pass a file such as "
                          "experiments/resnet/fig3_optimizers.py")
    spec = importlib.util.spec_from_file_location(f"_nclandscape_cfg_{p.stem}", p)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    return mod

