"""The ``nclandscape`` command line.

Every sub-command lives in its own module of :mod:`nclandscape.commands` and exposes
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``; modules are found
automatically, so adding a command never touches this file. Heavy imports (jax) happen inside
``main`` of each command, so ``nclandscape --help`` is fast.

Exit codes: 0 success, 1 runtime failure, 2 bad input (one line naming the bad value).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from nclandscape import commands as _commands


def _command_modules():
    mods = []
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"nclandscape.commands.{info.name}"))
    return mods


class _Parser(argparse.ArgumentParser):
    """Bad arguments: exit 2 with one line naming the bad value (no multi-line usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nclandscape",
        description="Explore the optimisation landscape of Neural Collapse (UFM) with JAX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def _cpu_device_workaround() -> None:
    """Several CPU "devices" on few cores (``--xla_force_host_platform_device_count``) deadlock in
    XLA's multi-threaded Eigen pool on long while-loops (seen with jax 0.10 on 2 cores: a sweep
    of 150+ steps over 4 devices hangs with no CPU use). Single-threaded Eigen per device avoids
    it and costs nothing there, since the devices already share the cores. Must run before the
    backend starts, so it lives here."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = flags + " --xla_cpu_multi_thread_eigen=false"


def main(argv: list[str] | None = None) -> int:
    _cpu_device_workaround()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_main", None) is None:
        parser.print_help()
        return 2
    if getattr(args, "x64", False):
        import jax

        jax.config.update("jax_enable_x64", True)
    try:
        return int(args._main(args) or 0)
    except ValueError as e:  # ConfigError and friends: bad input
        print(f"nclandscape {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"nclandscape {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
