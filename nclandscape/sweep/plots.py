"""Phase diagrams from a sweep's results table (files only, never live state).

``phase_diagram(table, x=..., y=..., color=...)`` pivots the table over two swept axes, aggregates
the other axes (median by default, or fixes them with ``where``), draws a heat map with log axes
where the values are log-spaced, and overlays the theory's boundaries:
- the zero-solution threshold λ_W λ_H = 1/(K N) whenever both λ_W and λ_H are known (one on an axis
  and the other fixed, or both on the axes);
- d = K − 1 (simplex ETF possible) whenever d or K is on an axis.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.fileio import atomic_savefig
from nclandscape.sweep.spec import INPUT_COLUMNS

AGGREGATES = {"median": np.nanmedian, "mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}
STATUS_CODE = {"ok": 0.0, "not_converged": 1.0, "diverged": 2.0, "stationary": 3.0}


def _column(cols: dict, name: str) -> np.ndarray:
    if name not in cols:
        raise ConfigError(f"column {name!r} is not in the results: choose from {', '.join(cols)}")
    v = cols[name]
    if name == "status":
        return np.asarray([STATUS_CODE.get(s, np.nan) for s in v], float)
    return np.asarray([np.nan if x is None else x for x in v], dtype=object if isinstance(v[0], str) else float)


def _filter(cols: dict, where: dict) -> dict:
    n = len(next(iter(cols.values())))
    keep = np.ones(n, bool)
    for k, v in where.items():
        col = cols.get(k)
        if col is None:
            raise ConfigError(f"--where {k}: no such column; choose from {', '.join(cols)}")
        typ = INPUT_COLUMNS.get(k, (str,))[0]
        if typ is float:
            keep &= np.isclose(np.asarray(col, float), float(v), rtol=1e-9, atol=0)
        elif typ is bool:
            keep &= np.asarray(col) == (str(v).lower() in ("1", "true", "yes"))
        elif typ is int:
            keep &= np.asarray(col) == int(v)
        else:
            keep &= np.asarray(col, dtype=object) == str(v)
    if not keep.any():
        raise ConfigError(f"no rows match --where {where}")
    return {k: [x for x, m in zip(vals, keep) if m] for k, vals in cols.items()}


def _is_log(v: np.ndarray) -> bool:
    v = v[np.isfinite(v)]
    return v.size > 2 and np.all(v > 0) and v.max() / v.min() > 20


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    t = np.log10(v) if log else v.astype(float)
    if t.size == 1:
        e = np.array([t[0] - 0.5, t[0] + 0.5])
    else:
        mid = (t[1:] + t[:-1]) / 2
        e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return 10**e if log else e


def pivot(cols: dict, x: str, y: str, color: str, agg: str = "median"):
    """(xs, ys, Z) with Z[j, i] the aggregate of ``color`` over rows with x = xs[i], y = ys[j]."""
    if agg not in AGGREGATES:
        raise ConfigError(f"--agg {agg!r}: choose one of {', '.join(AGGREGATES)}")
    xv, yv, cv = (_column(cols, c) for c in (x, y, color))
    xs, ys = np.unique(xv.astype(float)), np.unique(yv.astype(float))
    Z = np.full((len(ys), len(xs)), np.nan)
    xi = np.searchsorted(xs, xv.astype(float))
    yi = np.searchsorted(ys, yv.astype(float))
    buckets: dict = {}
    for a, b, c in zip(xi, yi, cv.astype(float)):
        buckets.setdefault((b, a), []).append(c)
    with np.errstate(all="ignore"):
        for (b, a), vals in buckets.items():
            arr = np.asarray(vals, float)
            Z[b, a] = AGGREGATES[agg](arr) if np.isfinite(arr).any() else np.nan
    return xs, ys, Z


def failed_cells(cols: dict, x: str, y: str, xs, ys) -> np.ndarray:
    """Boolean (len(ys), len(xs)): cells holding at least one row whose status is not ``ok``."""
    bad = np.zeros((len(ys), len(xs)), bool)
    if "status" not in cols:
        return bad
    xv, yv = _column(cols, x).astype(float), _column(cols, y).astype(float)
    xi, yi = np.searchsorted(xs, xv), np.searchsorted(ys, yv)
    for a, b, st in zip(xi, yi, cols["status"]):
        if st != "ok":
            bad[b, a] = True
    return bad


def _unique(cols, name):
    if name not in cols:
        return None
    u = sorted(set(cols[name]))
    return u[0] if len(u) == 1 else None


def draw_boundaries(ax, cols: dict, x: str, y: str, xs, ys) -> list[str]:
    """Overlay the theory's boundaries that are defined for this slice; returns their labels."""
    labels = []
    K, n = _unique(cols, "K"), _unique(cols, "n")
    lw, lh = _unique(cols, "lambda_W"), _unique(cols, "lambda_H")
    axes = {x: "x", y: "y"}
    if K is not None and n is not None:
        thr = 1.0 / (K * K * n)
        label = f"$\\lambda_W\\lambda_H = 1/(KN)$ = {thr:.2g}"
        if "lambda_W" in axes and "lambda_H" in axes:
            grid = np.geomspace(xs.min(), xs.max(), 400)
            ax.plot(grid, thr / grid, "w--", lw=2, label=label)
            labels.append(label)
        elif "lambda_W" in axes and lh is not None and lh > 0:
            v = thr / lh
            (ax.axvline if axes["lambda_W"] == "x" else ax.axhline)(v, color="w", ls="--", lw=2, label=label)
            labels.append(label)
        elif "lambda_H" in axes and lw is not None and lw > 0:
            v = thr / lw
            (ax.axvline if axes["lambda_H"] == "x" else ax.axhline)(v, color="w", ls="--", lw=2, label=label)
            labels.append(label)
    if "d" in axes and "K" in axes:
        grid = np.linspace(min(xs.min(), ys.min()) - 1, max(xs.max(), ys.max()) + 1, 50)
        if axes["K"] == "x":
            ax.plot(grid, grid - 1, "w:", lw=2, label="d = K − 1")
        else:
            ax.plot(grid - 1, grid, "w:", lw=2, label="d = K − 1")
        labels.append("d = K − 1")
    elif "d" in axes and K is not None:
        (ax.axvline if axes["d"] == "x" else ax.axhline)(K - 1, color="w", ls=":", lw=2, label=f"d = K − 1 = {K - 1}")
        labels.append("d = K − 1")
    return labels


def phase_diagram(table, *, x: str, y: str, color: str, where: dict | None = None, agg: str = "median",
                  log_color: bool | None = None, out=None, title: str | None = None) -> list[Path]:
    """Draw one phase diagram; writes ``out`` as PNG and PDF and returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    cols = table.to_pydict() if hasattr(table, "to_pydict") else dict(table)
    cols = _filter(cols, where or {})
    xs, ys, Z = pivot(cols, x, y, color, agg)
    logx, logy = _is_log(xs), _is_log(ys)
    finite = Z[np.isfinite(Z)]
    if log_color is None:
        log_color = color != "status" and finite.size > 0 and np.all(finite > 0) and finite.max() / max(finite.min(), 1e-300) > 100
    fig, ax = plt.subplots(figsize=(6.4, 5.0), constrained_layout=True)
    norm = None
    if log_color and finite.size and np.all(finite > 0):
        norm = LogNorm(vmin=max(finite.min(), finite.max() * 1e-12), vmax=finite.max())
    mesh = ax.pcolormesh(_edges(xs, logx), _edges(ys, logy), np.ma.masked_invalid(Z), norm=norm,
                         cmap="viridis", shading="flat")
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(color if color != "status" else "status (0 ok, 1 not converged, 2 diverged, 3 stationary)")
    # Never hide a failure: every cell with a row that is not ok is crossed out.
    bad = failed_cells(cols, x, y, xs, ys)
    n_bad_rows = sum(1 for st in cols.get("status", []) if st != "ok")
    ex, ey = _edges(xs, logx), _edges(ys, logy)
    for j, i in zip(*np.nonzero(bad)):
        ax.plot([ex[i], ex[i + 1]], [ey[j], ey[j + 1]], color="red", lw=1.0)
        ax.plot([ex[i], ex[i + 1]], [ey[j + 1], ey[j]], color="red", lw=1.0)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    labels = draw_boundaries(ax, cols, x, y, xs, ys)
    ax.set_xlim(_edges(xs, logx)[0], _edges(xs, logx)[-1])
    ax.set_ylim(_edges(ys, logy)[0], _edges(ys, logy)[-1])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if labels:
        ax.legend(loc="lower left", fontsize=8, framealpha=0.6)
    fixed = {k: v for k, v in ((k, _unique(cols, k)) for k in INPUT_COLUMNS if k not in (x, y)) if v is not None}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fixed.items()
                      if k in ("K", "n", "d", "lambda_W", "lambda_H", "lambda_b", "loss", "optimizer", "bias"))
    status = (f"all {len(cols.get('status', []))} rows ok" if not n_bad_rows else
              f"{n_bad_rows} row(s) not ok in {int(bad.sum())} crossed cell(s)")
    ax.set_title(title or f"{agg} {color}  [{status}]" + (f"\n{shown}" if shown else ""), fontsize=9)
    out = Path(out or f"phase_{color}_{x}_{y}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for p in paths:
        atomic_savefig(fig, p, dpi=130)
    plt.close(fig)
    return paths
