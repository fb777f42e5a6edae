"""Tables of the --cpu runs, read from their files (``results_cpu/<fig>/<run>/metrics.jsonl``).

    python experiments/resnet/summarize_cpu.py [DIR]     # default experiments/resnet/results_cpu

Prints, and writes to ``DIR/summary.md``, one markdown table per figure: train/test accuracy at
the last record, NC1-NC3 at the first and the last record with the factor they fell by, NC4,
the numerical rank, the minimum cosine margin and the trainable-parameter count.
"""
import json
import sys
from pathlib import Path

FIGS = ("fig3_optimizers", "fig4_feature_dim", "fig5_fixed_etf", "fig6_rescaled", "fig7_d3_features")


def _fmt(v):
    if v is None:
        return "–"
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"


def table(fig_dir: Path) -> str:
    rows = ["| run | epochs | train acc | test acc | NC1 first → last (÷) | NC2 first → last | "
            "NC3 first → last (÷) | NC4 | num. rank | min cos margin | params |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(p for p in fig_dir.iterdir() if (p / "metrics.jsonl").is_file()):
        recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results_cpu"
    parts = []
    for fig in FIGS:
        if (root / fig).is_dir():
            parts.append(f"### {fig}\n\n{table(root / fig)}\n")
    text = "\n".join(parts)
    (root / "summary.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
