"""``nclandscape plot DIR``: figures from a results folder (reads files only).

A sweep folder (results.parquet / parts/) gives a phase diagram of any column over two swept axes;
a training-run folder (config.json + metrics.jsonl, from ``nclandscape train``) gives the NC
curves laid out like the MSE paper's Figs. 3-6.
"""
from __future__ import annotations

NAME = "plot"
HELP = "phase diagram of a sweep (--x --y --color) or NC curves of training runs"


def add_arguments(p):
    p.add_argument("dirs", nargs="+", help="a sweep's --out folder, or one or more training-run folders")
    p.add_argument("--x", default="lambda_W", help="column on the x axis (sweeps)")
    p.add_argument("--y", default="lambda_H", help="column on the y axis (sweeps)")
    p.add_argument("--color", default="nc2", help="column shown as colour (sweeps), e.g. nc1, gap, status")
    p.add_argument("--where", action="append", default=[], metavar="NAME=VALUE", help="keep rows with this value")
    p.add_argument("--agg", default="median", help="aggregate over the other axes: median|mean|min|max")
    p.add_argument("--log-color", choices=["auto", "yes", "no"], default="auto")
    p.add_argument("--out", default=None, help="output path (PNG; a PDF is written beside it)")


def main(args) -> int:
    from pathlib import Path

    from nclandscape.errors import ConfigError

    from nclandscape.sweep.plots import AGGREGATES
    from nclandscape.validate import check_choice, check_out_file, read_json

    dirs = [Path(d) for d in args.dirs]
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"{str(d)!r} is not a folder: give a sweep's or a training run's output folder")
    check_choice("--agg", args.agg, tuple(AGGREGATES))
    for d in dirs:
        if (d / "config.json").is_file():
            read_json(d / "config.json", "run config")
    if args.out is not None:
        check_out_file("--out", args.out)
    from nclandscape.nets.plots import is_training_run, plot_run

    if all(is_training_run(d) for d in dirs):
        paths = plot_run(dirs, args.out)
    else:
        if len(dirs) != 1:
            raise ConfigError("give one sweep folder at a time")
        from nclandscape.sweep.plots import phase_diagram
        from nclandscape.sweep.store import read_results

        from nclandscape.sweep.spec import INPUT_COLUMNS, _coerce

        where = {}
        for w in args.where:
            if "=" not in w:
                raise ConfigError(f"--where {w!r}: write NAME=VALUE")
            k, v = w.split("=", 1)
            if k in INPUT_COLUMNS:
                _coerce(k, v)  # a typed value, or ConfigError naming the column
            where[k] = v
        log_color = {"auto": None, "yes": True, "no": False}[args.log_color]
        out = args.out or dirs[0] / "plots" / f"phase_{args.color}_{args.x}_{args.y}.png"
        paths = phase_diagram(read_results(dirs[0]), x=args.x, y=args.y, color=args.color, where=where,
                              agg=args.agg, log_color=log_color, out=out)
    for p in paths:
        print(f"wrote {p}")
    return 0
