"""Convergence plots of a benchmark folder, drawn from its files only (``config.json`` and the
per-optimiser Parquet files): each metric against iteration and against wall time, the median
over seeds as a line, the quartile band shaded and the min–max band lighter.

Log axes: values at or below ``FLOOR`` (an exact zero, or a gap that rounding puts below f*) are
drawn at ``FLOOR``; the x axes are logarithmic, so the initial point (iteration 0, time 0) is
left out.
"""
from __future__ import annotations

import os

import numpy as np

from nclandscape.fileio import atomic_savefig
from nclandscape.optbench.summary import load_dir, per_seed, resolve_f_star

FLOOR = 1e-16
METRICS = (("gap", "f − f*"), ("grad_norm", "‖∇f‖"), ("nc1", "NC1"), ("nc2", "NC2"), ("nc3", "NC3"))
PLOT_FILES = {"step": "curves_vs_iteration.png", "time_s": "curves_vs_time.png"}


def _bands(x):
    with np.errstate(all="ignore"):
        x = np.where(np.isfinite(x), np.maximum(x, FLOOR), np.nan)
        q = np.nanquantile(x, [0.0, 0.25, 0.5, 0.75, 1.0], axis=1)
    return q


def plot_dir(out_dir: str) -> list[str]:
    """Write the two PNGs into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, runs = load_dir(out_dir)
    f_star, source = resolve_f_star(cfg, runs)
    c = cfg["config"]
    title = (f"{c['loss']} K={c['K']} n={c['n']} d={c['d']} λ_W={c['lambda_W']:g} λ_H={c['lambda_H']:g} "
             f"λ_b={c['lambda_b']:g}, {c['seeds']} seeds, {'float64' if c['x64'] else 'float32'}; "
             f"f* {source}; median, quartile and min–max bands")
    paths = []
    for xkey, fname in PLOT_FILES.items():
        fig, grid = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
        axes = grid.ravel()[: len(METRICS)]
        legend_ax = grid.ravel()[-1]
        for i, (name, (cols, _)) in enumerate(runs.items()):
            a = per_seed(cols)
            x = a[xkey][:, 0].astype(float)
            keep = x > 0
            color = f"C{i}"
            for ax, (m, label) in zip(axes, METRICS):
                y = a["value"] - f_star if m == "gap" else a[m]
                lo, q1, med, q3, hi = _bands(y)
                ax.plot(x[keep], med[keep], color=color, label=name)
                ax.fill_between(x[keep], q1[keep], q3[keep], color=color, alpha=0.25, linewidth=0)
                ax.fill_between(x[keep], lo[keep], hi[keep], color=color, alpha=0.08, linewidth=0)
        for ax, (m, label) in zip(axes, METRICS):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(label)
            ax.set_xlabel("iteration" if xkey == "step" else "wall time of all seeds (s)")
            ax.grid(True, which="major", alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        legend_ax.axis("off")
        legend_ax.legend(handles, labels, loc="center", fontsize=11, title="optimiser")
        fig.suptitle(title, fontsize=10)
        path = os.path.join(out_dir, fname)
        atomic_savefig(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
