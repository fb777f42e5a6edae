"""``nclandscape optbench-plot DIR``: redraw the tables and plots of an optbench folder from its files."""
from __future__ import annotations

NAME = "optbench-plot"
HELP = "rewrite summary.md/csv and the PNGs of an optbench output folder from its files"


def add_arguments(p):
    p.add_argument("dir", help="an optbench --out folder")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")


def validate(args) -> None:
    """Before writing anything: DIR is a folder with an optbench config.json and optimiser files."""
    import json
    from pathlib import Path

    from nclandscape.errors import ConfigError
    from nclandscape.optbench.config import BenchConfig
    from nclandscape.validate import read_text

    d = Path(args.dir)
    if not d.is_dir():
        raise ConfigError(f"{str(d)!r} is not a folder: give an optbench --out folder")
    cfg = d / "config.json"
    if not cfg.is_file():
        raise ConfigError(f"{str(d)!r} has no config.json: give an optbench --out folder")
    try:
        BenchConfig.from_json(json.loads(read_text(cfg, "optbench config"))["config"])
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{str(cfg)!r} is not an optbench config.json: give an optbench --out folder") from None
    if not list(d.glob("*.parquet")):
        raise ConfigError(f"{str(d)!r} holds no optimiser results (*.parquet): run nclandscape optbench first")


def main(args) -> int:
    from nclandscape.optbench.summary import markdown, write_summary

    validate(args)
    s = write_summary(args.dir)
    print(markdown(s), end="")
    if not args.no_plots:
        from nclandscape.optbench.plots import plot_dir

        for p in plot_dir(args.dir):
            print(f"wrote {p}")
    return 0
