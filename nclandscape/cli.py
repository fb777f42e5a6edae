"""The ``nclandscape`` command line.

Every sub-command lives in its own module of :mod:`nclandscape.commands` and exposes
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``; modules are found
automatically, so adding a command never touches this file. Heavy imports (jax) happen inside
``main`` of each command, so ``nclandscape --help`` is fast.

Exit codes (docs/errors.md): 0 success, 1 runtime failure (e.g. a diverged solve), 2 bad input
or an unusable file or folder (one line naming the value or path), 130 interrupted by SIGINT
(Ctrl-C), 143 terminated by SIGTERM. Interruptions stop at the next Python instruction: results
are written atomically (nclandscape.fileio), so a rerun of the same command resumes.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
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
    return run_command(args)


INTERRUPTED = "interrupted; rerun the same command to resume"


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _out_path(args):
    for name in ("out", "dir"):
        v = getattr(args, name, None)
        if v:
            return v
    return None


def _raise_terminated(signum, frame):
    from nclandscape.errors import Terminated

    raise Terminated()


def run_command(args) -> int:
    """Run a parsed command; every failure the user can act on becomes one stderr line."""
    from nclandscape.errors import Terminated

    def fail(msg, code=2):
        print(f"nclandscape {args.command}: error: {_one_line(msg)}", file=sys.stderr)
        return code

    old = None
    try:
        old = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return int(args._main(args) or 0)
    except Terminated:
        print(f"nclandscape {args.command}: {INTERRUPTED}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"nclandscape {args.command}: {INTERRUPTED}", file=sys.stderr)
        return 130
    except (ValueError, OverflowError) as e:  # ConfigError and friends: bad input
        return fail(e)
    except MemoryError:
        return fail("out of memory: lower the problem sizes (see docs/errors.md)")
    except OSError as e:  # missing files, full disks, read-only or missing folders
        if e.strerror is None:
            return fail(e)
        path = e.filename or _out_path(args)
        return fail(f"{str(path)!r}: {e.strerror}" if path else e.strerror)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)

if __name__ == "__main__":
    raise SystemExit(main())
