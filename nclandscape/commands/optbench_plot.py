"""``nclandscape optbench-plot DIR``: redraw the tables and plots of an optbench folder from its files."""
from __future__ import annotations

NAME = "optbench-plot"
HELP = "rewrite summary.md/csv and the PNGs of an optbench output folder from its files"


def add_arguments(p):
    p.add_argument("dir", help="an optbench --out folder")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")


def main(args) -> int:
    import os

    from nclandscape.optbench.summary import markdown, write_summary

    if not os.path.exists(os.path.join(args.dir, "config.json")):
        raise FileNotFoundError(f"{args.dir}/config.json not found: not an optbench folder")
    s = write_summary(args.dir)
    print(markdown(s), end="")
    if not args.no_plots:
        from nclandscape.optbench.plots import plot_dir

        for p in plot_dir(args.dir):
            print(f"wrote {p}")
    return 0
