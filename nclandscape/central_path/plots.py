"""Figures of central-path results; they read the JSON files the commands and experiments write."""
from __future__ import annotations

import json

from nclandscape.fileio import atomic_savefig


def plot_flow_file(path: str, out_png: str) -> str:
    """Measured ω_j(t) (points) on the exact law's curves (lines), and F(t), from a ``central-path`` JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with open(path) as f:
        r = json.load(f)
    t, om, law = np.asarray(r["t"]), np.asarray(r["omega"]), np.asarray(r["omega_law"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for j in range(om.shape[1]):
        line, = a.plot(t, law[:, j], lw=1.2, label="exact law" if j == 0 else None)
        a.plot(t, om[:, j], "o", ms=3.5, color=line.get_color(), label="simulated" if j == 0 else None)
    a.set_xlabel("t (gradient-flow time of f)")
    a.set_ylabel("SNR singular values ω_j")
    a.set_title(f"{r['flow']} flow, K={r['K']} n={r['n']} d={r['d']}: max rel. err {r['max_rel_err']:.1e}")
    a.legend()
    b.semilogy(t, r["F_law"], lw=1.2, label="F(ω_law)")
    b.semilogy(t, r["F"], "o", ms=3.5, label="F measured")
    b.set_xlabel("t")
    b.set_ylabel("F = min_{W,b} f")
    b.legend()
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=120)
    plt.close(fig)
    return out_png
