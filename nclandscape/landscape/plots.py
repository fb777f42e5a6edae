"""Matplotlib drawings of polar landscapes and slices (Agg backend; arrays in, axes out).

The functions draw on a given ``Axes`` and never compute the landscape themselves: the numbers
come from :mod:`nclandscape.landscape.polar` / :mod:`.slices` or from the JSON files the
experiments write.
"""
from __future__ import annotations

import numpy as np

from nclandscape.fileio import atomic_savefig


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(nrows: int = 1, ncols: int = 1, *, size=(4.2, 3.4)):
    plt = _mpl()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    return fig, axes


ARROW_MODES = ("norm", "unit")


def _check_arrows(mode: str) -> str:
    if mode not in ARROW_MODES:
        from nclandscape.errors import ConfigError

        raise ConfigError(f"arrows={mode!r} is not allowed: choose norm (length proportional to the "
                          "gradient norm, as the MSE paper) or unit")
    return mode


def plot_polar(ax, s, theta, loss, grad_s=None, grad_theta=None, *, title: str = "", arrows: int = 17,
               levels: int = 30, mark_min: bool = True, arrow_length: str = "norm"):
    """Filled contours of ``loss[i, j]`` at ``(theta[j], s[i])`` with the negative-gradient field.

    Axes: θ (radians, from ``w^k`` towards ``w^k'``) horizontally, ``s = ‖h‖`` vertically. Arrows are
    ``−(∂f/∂θ, ∂f/∂s)`` (the gradient-descent direction in these coordinates).
    ``arrow_length="norm"`` (default, as the MSE paper's Fig. 8): each arrow is the gradient-descent
    step ``k (−∂_θ f, −∂_s f)`` in data units, one ``k`` per panel (the longest arrow spans 1.5
    cells of the arrow lattice), so lengths are proportional to the gradient norm; white arrows.
    ``"unit"``: unit length, so the direction is readable everywhere, coloured by ``log10`` of the
    gradient norm.
    """
    _check_arrows(arrow_length)
    s, theta, loss = np.asarray(s), np.asarray(theta), np.asarray(loss)
    lo, hi = np.nanpercentile(loss, 0), np.nanpercentile(loss, 98)
    lv = np.linspace(lo, hi if hi > lo else lo + 1.0, levels)
    cs = ax.contourf(theta, s, np.clip(loss, lo, hi), levels=lv, cmap="viridis")
    ax.contour(theta, s, np.clip(loss, lo, hi), levels=lv[::3], colors="k", linewidths=0.3, alpha=0.5)
    if grad_s is not None and grad_theta is not None:
        gs, gt = np.asarray(grad_s), np.asarray(grad_theta)
        si = np.unique(np.linspace(0, len(s) - 1, arrows).round().astype(int))
        ti = np.unique(np.linspace(0, len(theta) - 1, arrows).round().astype(int))
        U, V = -gt[np.ix_(si, ti)], -gs[np.ix_(si, ti)]
        mag = np.hypot(U, V)
        T, S = np.meshgrid(theta[ti], s[si])
        colour = np.log10(np.where(mag > 0, mag, np.nan))
        if arrow_length == "unit":
            nz = np.where(mag > 0, mag, 1.0)
            ax.quiver(T, S, U / nz, V / nz, colour, cmap="autumn", angles="xy", scale=arrows * 1.3,
                      width=0.004)
        else:  # each arrow is a gradient-descent step k (−∂_θ f, −∂_s f) in data units, one k
            # per panel, chosen so that the longest arrow spans 1.5 cells of the arrow lattice
            screen = np.hypot(U / (np.ptp(theta) or 1.0), V / (np.ptp(s) or 1.0))
            top = np.nanmax(screen) if np.any(screen > 0) else 1.0
            k = 1.5 / max(arrows - 1, 1) / top
            ax.quiver(T, S, U * k, V * k, color="w", edgecolor="k", linewidth=0.4, angles="xy",
                      scale_units="xy", scale=1.0, width=0.005)
    if mark_min:
        i, j = np.unravel_index(np.nanargmin(loss), loss.shape)
        ax.plot(theta[j], s[i], marker="*", color="w", markersize=10, markeredgecolor="k")
    ax.set_xlabel(r"$\theta$ (rad)")
    ax.set_ylabel(r"$s=\|h\|$")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(cs, ax=ax, shrink=0.85)
    return ax


def plot_plane(ax, s, theta, loss, grad_s=None, grad_theta=None, *, title: str = "", arrows: int = 15,
               levels: int = 30, arrow_length: str = "norm"):
    """The same landscape drawn in the plane of the feature itself: ``x = s cos θ`` along ``w^k``,
    ``y = s sin θ`` across it, with the negative Euclidean gradient ``−∇_h f``,
    ``∇_h f = ∂f/∂s u_r + (1/s) ∂f/∂θ u_θ``; arrow lengths proportional to ``‖∇_h f‖`` (the
    longest one cell) or, with ``arrow_length="unit"``, all one cell. Axes are equal, so angles
    are true angles."""
    _check_arrows(arrow_length)
    s, theta, loss = np.asarray(s), np.asarray(theta), np.asarray(loss)
    S, T = np.meshgrid(s, theta, indexing="ij")
    X, Y = S * np.cos(T), S * np.sin(T)
    lo, hi = np.nanpercentile(loss, 0), np.nanpercentile(loss, 98)
    lv = np.linspace(lo, hi if hi > lo else lo + 1.0, levels)
    cs = ax.contourf(X, Y, np.clip(loss, lo, hi), levels=lv, cmap="viridis")
    if grad_s is not None and grad_theta is not None:
        r = s.max()
        g = np.linspace(-r, r, arrows)
        GX, GY = np.meshgrid(g, g)
        R, A = np.hypot(GX, GY), np.arctan2(GY, GX)
        inside = (R <= r) & (R > 0)
        # nearest grid node of every arrow position (the data are on the polar grid)
        i = np.clip(np.searchsorted(s, R), 0, len(s) - 1)
        j = np.clip(np.searchsorted(theta, A), 0, len(theta) - 1)
        gs, gt = np.asarray(grad_s)[i, j], np.asarray(grad_theta)[i, j]
        sr = np.where(s[i] > 0, s[i], 1.0)
        th = theta[j]
        gx = gs * np.cos(th) - gt / sr * np.sin(th)
        gy = gs * np.sin(th) + gt / sr * np.cos(th)
        mag = np.hypot(gx, gy)
        ok = inside & (mag > 0)
        norm = mag[ok] if arrow_length == "unit" else np.full(int(ok.sum()), np.max(mag[ok], initial=1.0))
        ax.quiver(GX[ok], GY[ok], -gx[ok] / norm, -gy[ok] / norm, color="orange", angles="xy",
                  scale=arrows * 1.3, width=0.004)
    k, l = np.unravel_index(np.nanargmin(loss), loss.shape)
    ax.plot(s[k] * np.cos(theta[l]), s[k] * np.sin(theta[l]), marker="*", color="w", markersize=10, markeredgecolor="k")
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\langle h, e_1\rangle$ (along $w^k$)")
    ax.set_ylabel(r"$\langle h, e_2\rangle$")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(cs, ax=ax, shrink=0.85)
    return ax


def plot_slice_1d(ax, t, values, *, label: str = "", title: str = "", xlabel: str = "t"):
    ax.plot(np.asarray(t), np.asarray(values), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("objective")
    if title:
        ax.set_title(title, fontsize=9)
    if label:
        ax.legend(fontsize=7)
    return ax


def plot_slice_2d(ax, t1, t2, values, *, title: str = "", labels=("t1", "t2"), levels: int = 30):
    """Filled contours of ``values[i, j]`` at ``(t1[i], t2[j])`` (``t1`` horizontal)."""
    v = np.asarray(values)
    cs = ax.contourf(np.asarray(t1), np.asarray(t2), v.T, levels=levels, cmap="viridis")
    ax.contour(np.asarray(t1), np.asarray(t2), v.T, levels=levels // 2, colors="k", linewidths=0.3, alpha=0.5)
    ax.plot([0], [0], marker="*", color="w", markersize=9, markeredgecolor="k")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(cs, ax=ax, shrink=0.85)
    return ax


def save(fig, path) -> None:
    import os

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=100)
    _mpl().close(fig)
