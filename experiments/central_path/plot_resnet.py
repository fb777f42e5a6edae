"""(c) Figure and table of the decomposition along a ResNet MSE run (reads RUN/metrics.jsonl).

Command:   python -m experiments.central_path.plot_resnet RUN [--figure PNG]
           (RUN: a folder written by ``nclandscape train experiments/central_path/resnet_mse.py``;
           see that file's docstring for the CPU-sized and the full GPU commands)
Run time:  seconds.
Output:    the figure (default RUN/central_path_terms.png) and a Markdown table on stdout: the five
           terms, f and L⊥/f at a few epochs.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

TERMS = ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp")


def read(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    recs = [r for r in recs if r.get("L_perp") is not None]
    if not recs:
        raise SystemExit(f"{run_dir}/metrics.jsonl has no decomposition terms (an MSE run records them)")
    return recs


def table(recs: list[dict], k: int = 8) -> str:
    idx = sorted(set(np.linspace(0, len(recs) - 1, k).round().astype(int).tolist()))
    out = ["| epoch | train acc | L_NC1 within | L_NC1 ridge | L_NC2/3 | L⊥ | f | L⊥/f |", "|---|---|---|---|---|---|---|---|"]
    for i in idx:
        r = recs[i]
        out.append(f"| {r['epoch']} | {r['train_acc']:.3f} | {r['L_nc1_within']:.3g} | {r['L_nc1_ridge']:.3g} | "
                   f"{r['L_nc23']:.3g} | {r['L_perp']:.3g} | {r['L_total']:.4g} | {r['L_perp_over_f']:.2e} |")
    return "\n".join(out) + "\n"


def plot(recs: list[dict], out_png: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = np.asarray([r["epoch"] for r in recs])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k, lab in zip(TERMS, ("L_NC1 (within)", "L_NC1 (ridge)", "L_NC2/3", "L⊥ (term B)")):
        a.semilogy(ep, np.maximum([r[k] for r in recs], 1e-30), "-o", ms=2.5, label=lab)
    a.semilogy(ep, [r["L_total"] for r in recs], "k--", lw=1, label="f (sum)")
    a.set_xlabel("epoch")
    a.set_ylabel("term of f")
    a.legend(fontsize=8)
    b.semilogy(ep, [r["L_perp_over_f"] for r in recs], "-o", ms=2.5, color="C3")
    b.set_xlabel("epoch")
    b.set_ylabel("L⊥ / f")
    b.grid(True, which="major", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder with metrics.jsonl and config.json")
    ap.add_argument("--figure", default=None)
    args = ap.parse_args(argv)
    recs = read(args.run)
    cfg = json.load(open(os.path.join(args.run, "config.json")))
    n = cfg.get("train_per_class")
    title = (f"ResNet18 (width {cfg['width']}) MSE on CIFAR-10 ({'all' if n is None else n * 10} train images), "
             f"weight decay {cfg['weight_decay']:g}: decomposition on the full train features")
    print(table(recs))
    print("wrote", plot(recs, args.figure or os.path.join(args.run, "central_path_terms.png"), title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
