"""Shared runner of the landscape experiments: configs in, result files out, plots from the files.

A polar experiment config is a dict::

    {"name": ..., "layout": [rows, cols], "s_points": 61, "theta_points": 91,
     "theta_range": [0, "pi"], "arrows": "norm" | "unit",
     "panels": [{"title": ..., "loss": "rescaled_mse", "K": 10 or "inf", "alpha": 3, "M": 3,
                 "lambda_H": 0.0, "s_max": 6.0}, ...]}

A panel is the real per-sample objective on the ETF plane (autodiff gradient), or, with
``"closed_form": true``, one of the paper's K → ∞ closed forms of
:mod:`nclandscape.landscape.limits` (``loss`` in mse, rescaled_mse, ce_paper, ce_exact).
``theta_range`` defaults to [-pi, pi]; ``arrows`` (default norm: length ∝ gradient norm) is how
the plots draw the field.

``run_polar(config, out_dir)`` writes ``config.json``, ``grids.npz`` (s, theta, loss, grad_s,
grad_theta of every panel) and ``summary.jsonl`` (one line per panel: grid minimum and where), then
``plot_polar(out_dir)`` draws ``<name>.png`` (the (θ, s) chart) and ``<name>_plane.png`` (the same
panels in the plane of the feature, Euclidean gradient) from those files only. Everything runs in float64.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nclandscape.landscape import plane_for, plots, polar_landscape  # noqa: E402
from nclandscape.landscape.grids import parse_number  # noqa: E402
from nclandscape.landscape.limits import limit_field  # noqa: E402
from nclandscape.ufm import make_hparams  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def default_out(name: str) -> str:
    return os.path.join(HERE, "results", name)


def cli(description: str, default_name: str):
    """Parse ``--tiny`` (CI size) and ``--out DIR`` of an experiment script."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tiny", action="store_true", help="tiny grids (for CI); writes to a temporary-style folder")
    p.add_argument("--out", default=None, help=f"output folder (default experiments/landscape/results/{default_name})")
    p.add_argument("--unit-arrows", action="store_true",
                   help="draw unit-length arrows (default: length proportional to the gradient norm)")
    return p


def _K(k):
    return math.inf if str(k) == "inf" else int(k)


_GRID = {}


def _grid_fn(loss):
    if loss not in _GRID:  # one compiled program per loss (and grid/plane shape), any α, M, λ_H
        _GRID[loss] = jax.jit(lambda s, t, plane, hp: polar_landscape(s, t, plane, hp, loss=loss))
    return _GRID[loss]


def polar_panel(panel: dict, s_points: int, theta_points: int, theta_range=(-math.pi, math.pi)) -> dict:
    """Compute one panel: the real per-sample objective of the feature on an (s, θ) grid, or the
    paper's K → ∞ closed form (``closed_form``)."""
    alpha, M = float(panel.get("alpha", 1.0)), float(panel.get("M", 1.0))
    s = np.linspace(0.0, float(panel["s_max"]), s_points)
    lo, hi = (parse_number(str(t), what="theta_range") for t in theta_range)
    theta = np.linspace(lo, hi, theta_points)
    if panel.get("closed_form"):
        g = limit_field(panel["loss"], jnp.asarray(s), jnp.asarray(theta), alpha, M)
    else:
        hp = make_hparams(0.0, float(panel.get("lambda_H", 0.0)), 0.0, alpha, M)
        g = _grid_fn(panel["loss"])(jnp.asarray(s), jnp.asarray(theta), plane_for(_K(panel["K"])), hp)
    return {"s": s, "theta": theta, "loss": np.asarray(g.loss), "grad_s": np.asarray(g.grad_s),
            "grad_theta": np.asarray(g.grad_theta)}


def run_polar(config: dict, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    arrays, summary = {}, []
    results = []
    for i, panel in enumerate(config["panels"]):
        if "difference_of" in panel:  # panel a − panel b (same grid), e.g. two forms of one loss
            a, b = (results[j] for j in panel["difference_of"])
            r = {k: a[k] - b[k] if k in ("loss", "grad_s", "grad_theta") else a[k] for k in a}
        else:
            r = polar_panel(panel, config["s_points"], config["theta_points"],
                            config.get("theta_range", (-math.pi, math.pi)))
        results.append(r)
        for k, v in r.items():
            arrays[f"{i}_{k}"] = v
        a, b = np.unravel_index(np.argmin(r["loss"]), r["loss"].shape)
        summary.append({**panel, "grid_min": float(r["loss"][a, b]), "s_at_min": float(r["s"][a]),
                        "theta_at_min": float(r["theta"][b])})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    # float32 on disk: the files feed the plots (the exact values are tested, not stored).
    np.savez_compressed(os.path.join(out_dir, "grids.npz"), **{k: v.astype(np.float32) for k, v in arrays.items()})
    with open(os.path.join(out_dir, "summary.jsonl"), "w") as f:
        for row in summary:
            f.write(json.dumps(row) + "\n")
    print(f"{config['name']}: {len(config['panels'])} panels of {config['s_points']}x{config['theta_points']} "
          f"in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    return plot_polar(out_dir)


def plot_polar(out_dir: str, arrows: str | None = None) -> str:
    """Draw ``<name>.png`` from ``config.json`` and ``grids.npz`` of a finished run (``arrows``
    overrides the config's arrow style)."""
    with open(os.path.join(out_dir, "config.json")) as f:
        config = json.load(f)
    arrows = arrows or config.get("arrows", "norm")
    z = np.load(os.path.join(out_dir, "grids.npz"))
    rows, cols = config["layout"]
    fig, axes = plots.figure(rows, cols)
    for i, panel in enumerate(config["panels"]):
        ax = axes.flat[i]
        plots.plot_polar(ax, z[f"{i}_s"], z[f"{i}_theta"], z[f"{i}_loss"], z[f"{i}_grad_s"], z[f"{i}_grad_theta"],
                         title=panel["title"], arrow_length=arrows)
    for ax in list(axes.flat)[len(config["panels"]):]:
        ax.axis("off")
    path = os.path.join(out_dir, f"{config['name']}.png")
    plots.save(fig, path)
    print(f"wrote {path}")
    # The same panels in the plane of the feature (Euclidean gradient field).
    fig, axes = plots.figure(rows, cols)
    for i, panel in enumerate(config["panels"]):
        plots.plot_plane(axes.flat[i], z[f"{i}_s"], z[f"{i}_theta"], z[f"{i}_loss"], z[f"{i}_grad_s"],
                         z[f"{i}_grad_theta"], title=panel["title"], arrow_length=arrows)
    for ax in list(axes.flat)[len(config["panels"]):]:
        ax.axis("off")
    plane_path = os.path.join(out_dir, f"{config['name']}_plane.png")
    plots.save(fig, plane_path)
    print(f"wrote {plane_path}")
    return path


def tiny(config: dict) -> dict:
    """The CI variant of a polar config: same panels, 5 × 7 grids."""
    return {**config, "s_points": 5, "theta_points": 7}
