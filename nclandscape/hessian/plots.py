"""Spectrum figures: distinct eigenvalues with multiplicities (stems) and a density; negative part
in red. Reads plain arrays (or a JSON report of ``nclandscape hessian --json``), no jax needed."""
from __future__ import annotations

import numpy as np

from nclandscape.fileio import atomic_savefig


def _distinct(eigs, rtol):
    v = np.sort(np.asarray(eigs, float))
    if v.size == 0:
        return v, np.zeros(0, int)
    tol = rtol * max(float(np.max(np.abs(v))), np.finfo(float).tiny)
    vals, mult = [v[0]], [1]
    for x in v[1:]:
        if x - vals[-1] <= tol:
            mult[-1] += 1
        else:
            vals.append(x)
            mult.append(1)
    return np.asarray(vals), np.asarray(mult)


def plot_spectrum(eigenvalues, out, *, title="", rtol=1e-8, linthresh=None, density=None, index_rtol=1e-10):
    """Save a two-panel figure of a Hessian spectrum to ``out``.

    Top: each distinct eigenvalue (merged to ``rtol``) as a stem of height = multiplicity (log y),
    symlog x so that the negative, zero and positive parts are all visible. Bottom: a histogram of
    all eigenvalues counted with multiplicity, or ``density = (grid, values)`` (e.g. SLQ).
    Eigenvalues below ``-index_rtol · max|λ|`` are red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = np.sort(np.asarray(eigenvalues, float))
    vals, mult = _distinct(ev, rtol)
    big = float(np.max(np.abs(ev))) if ev.size else 1.0
    neg = vals < -index_rtol * big
    nz = np.abs(vals[np.abs(vals) > index_rtol * big])
    linthresh = linthresh or (float(np.min(nz)) / 2 if nz.size else 1e-12)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), constrained_layout=True)
    for sel, color, label in ((~neg, "tab:blue", "λ ≥ 0 (≈)"), (neg, "tab:red", "λ < 0")):
        if np.any(sel):
            a1.vlines(vals[sel], 0.8, mult[sel], color=color, lw=2, label=f"{label}: {int(mult[sel].sum())}")
            a1.plot(vals[sel], mult[sel], "o", color=color, ms=4)
    for v, m in zip(vals, mult):
        if m > 1:
            a1.annotate(f"×{m}", (v, m), textcoords="offset points", xytext=(2, 3), fontsize=7)
    a1.set_xscale("symlog", linthresh=linthresh)
    a1.set_yscale("log")
    a1.set_ylim(0.8, max(2.0, float(mult.max()) * 2 if mult.size else 2.0))
    a1.set_ylabel("multiplicity")
    a1.set_title(title or f"Hessian spectrum: {ev.size} eigenvalues, {len(vals)} distinct, index {int(mult[neg].sum())}")
    a1.legend(loc="upper left", fontsize=8)
    if density is not None:
        grid, dens = (np.asarray(x) for x in density)
        a2.plot(grid, dens, color="tab:blue")
        a2.fill_between(grid, dens, where=grid < 0, color="tab:red", alpha=0.5)
        a2.set_ylabel("density (SLQ)")
    else:
        bins = np.linspace(ev.min(), ev.max(), 80) if ev.size and ev.max() > ev.min() else 10
        h, edges = np.histogram(ev, bins=bins)
        centers = 0.5 * (edges[1:] + edges[:-1])
        colors = np.where(centers < -index_rtol * big, "tab:red", "tab:blue")
        a2.bar(centers, np.maximum(h, 0), width=np.diff(edges), color=colors, log=True)
        a2.set_ylabel("count (with multiplicity)")
    a2.set_xlabel("eigenvalue")
    atomic_savefig(fig, out, dpi=120)
    plt.close(fig)
    return out
