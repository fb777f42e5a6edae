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


def main(argv: list[str] | None = None) -> int:
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
