"""The ResNet experiments (the MSE paper's Figs. 3-7): ``nclandscape train CONFIG`` is their runner;
this module holds what comes after it, the tables of the ``--cpu`` runs read from their files.

    experiments/resnet/run_cpu.sh                       # every --cpu variant; copies the files
                                                        # into experiments/resnet/results/<fig>_cpu/
    python -m experiments.resnet.runner summarize [DIR]  # default DIR: experiments/resnet/results

``summarize`` prints, and writes to ``DIR/summary_cpu.md``, one markdown table per figure (read from
``DIR/<fig>_cpu/<run>/metrics.jsonl``): train/test accuracy at the last record, NC1-NC3 at the first
and the last record with the factor they fell by, NC4, the numerical rank, the minimum cosine
margin and the trainable-parameter count.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from experiments.common import read_jsonl

FIGS = ("fig3_optimizers", "fig4_feature_dim", "fig5_fixed_etf", "fig6_rescaled", "fig7_d3_features")
RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(v):
    if v is None:
        return "–"
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"


def table(fig_dir: Path) -> str:
    rows = ["| run | epochs | train acc | test acc | NC1 first → last (÷) | NC2 first → last | "
            "NC3 first → last (÷) | NC4 | num. rank | min cos margin | params |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(p for p in fig_dir.iterdir() if (p / "metrics.jsonl").is_file()):
        recs = read_jsonl(run / "metrics.jsonl")
        if not recs:
            continue
        a, b = recs[0], recs[-1]

        def fell(k):
            return f"{_fmt(a[k])} → {_fmt(b[k])} ({a[k] / b[k]:.2g}x)" if a[k] and b[k] else "–"

        rows.append(f"| {run.name} | {a['epoch']}–{b['epoch']} | {b['train_acc']:.3f} | "
                    f"{b['test_acc']:.3f} | {fell('nc1')} | {_fmt(a['nc2'])} → {_fmt(b['nc2'])} | "
                    f"{fell('nc3')} | {_fmt(b['nc4'])} | {_fmt(b['numerical_rank'])} | "
                    f"{_fmt(b['min_cos_margin'])} | {b.get('trainable_params', 0):,} |")
    return "\n".join(rows)


def summarize(root=RESULTS) -> str:
    """The tables of every ``root/<fig>_cpu/`` folder, written to ``root/summary_cpu.md``."""
    root = Path(root)
    parts = [f"### {fig}\n\n{table(root / f'{fig}_cpu')}\n" for fig in FIGS if (root / f"{fig}_cpu").is_dir()]
    text = "\n".join(parts)
    (root / "summary_cpu.md").write_text(text)
    print(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.resnet.runner",
                                 description="Tables of the ResNet --cpu runs, from their files.")
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("summarize", help="DIR/summary_cpu.md from DIR/<fig>_cpu/<run>/metrics.jsonl")
    s.add_argument("root", nargs="?", default=str(RESULTS), help="results folder (default experiments/resnet/results)")
    args = ap.parse_args(argv)
    summarize(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
