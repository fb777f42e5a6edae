"""Run one optbench experiment config: ``python experiments/optbench/run.py CONFIG.py [--tiny] [--out DIR]``.

A config module defines ``CONFIG`` (and ``TINY``): ``nclandscape optbench`` flags without the
leading dashes; ``True`` means a bare flag. The default output folder is
``experiments/optbench/results/<config name>`` (``<name>-tiny`` with --tiny); a re-run resumes.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_config(path: str, tiny: bool = False) -> dict:
    sys.path.insert(0, HERE)
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return dict(mod.TINY if tiny else mod.CONFIG)


def argv_of(config: dict, out: str) -> list[str]:
    argv = ["optbench"]
    for k, v in config.items():
        if v is True:
            argv.append(f"--{k}")
        elif v not in (False, None):
            argv += [f"--{k}", str(v)]
    return argv + ["--out", out]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("config")
    p.add_argument("--tiny", action="store_true", help="the config's tiny variant (CI)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    name = os.path.splitext(os.path.basename(a.config))[0] + ("-tiny" if a.tiny else "")
    out = a.out or os.path.join(HERE, "results", name)
    from nclandscape import cli

    return cli.main(argv_of(load_config(a.config, a.tiny), out))


if __name__ == "__main__":
    raise SystemExit(main())
