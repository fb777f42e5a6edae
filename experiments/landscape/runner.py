"""The landscape experiments' runner: configs in, result files out, plots from the files.

Three experiment types, each ``run_*(config, out_dir)`` (named by a config's ``RUNNER``; run with
``python -m experiments experiments/landscape/<name>.py``), all in float64:

* :func:`run_polar` (fig2.py, fig8.py). A polar config is a dict::

    {"name": ..., "layout": [rows, cols], "s_points": 61, "theta_points": 91,
     "theta_range": [0, "pi"], "arrows": "norm" | "unit",
     "panels": [{"title": ..., "loss": "rescaled_mse", "K": 10 or "inf", "alpha": 3, "M": 3,
                 "lambda_H": 0.0, "s_max": 6.0}, ...]}

  A panel is the real per-sample objective on the ETF plane (autodiff gradient), or, with
  ``"closed_form": true``, one of the paper's K → ∞ closed forms of
  :mod:`nclandscape.landscape.limits` (``loss`` in mse, rescaled_mse, ce_paper, ce_exact), or
  ``"difference_of": [i, j]`` (panel i − panel j). ``theta_range`` defaults to [-pi, pi];
  ``arrows`` (default norm: length ∝ gradient norm; ``--set arrows=unit``) is how the plots draw
  the field. Writes ``config.json``, ``grids.npz`` (s, theta, loss, grad_s, grad_theta of every
  panel) and ``summary.jsonl`` (one line per panel: grid minimum and where), then
  :func:`plot_polar` draws ``<name>.png`` (the (θ, s) chart) and ``<name>_plane.png`` (the same
  panels in the plane of the feature, Euclidean gradient) from those files only.
* :func:`run_ratio_table` (ratio_table.py): angular vs radial gradient probes, Hessian and GD
  steps near the feature's solution; ``config.json``, ``table.jsonl``, ``table.md``.
* :func:`run_slices` (slices.py): slices of the full UFM objective; ``config.json``,
  ``slices.json``, then :func:`plot_slices` draws ``slices.png`` from it.
"""
from __future__ import annotations

import json
import math
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import float64, write_config, write_jsonl
from nclandscape.landscape import (directions_for, feature_loss, plane_for, plots, point_for, polar_landscape,
                                   polar_minimizer_on_ray, polar_value_and_grad, slice_1d, slice_2d)
from nclandscape.landscape.grids import parse_number
from nclandscape.landscape.limits import limit_field
from nclandscape.objectives import objective_for
from nclandscape.ufm import Problem, make_hparams


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


@float64
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
    write_config(out_dir, config)
    # float32 on disk: the files feed the plots (the exact values are tested, not stored).
    np.savez_compressed(os.path.join(out_dir, "grids.npz"), **{k: v.astype(np.float32) for k, v in arrays.items()})
    write_jsonl(os.path.join(out_dir, "summary.jsonl"), summary)
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



# ---- ratio_table: angular vs radial gradient near the feature's solution -------------------------

@partial(jax.jit, static_argnums=(5, 6))
def _gd_steps(x0, plane, hp, lr, tol, max_steps, loss):
    """Fixed-step gradient descent on the in-plane feature until |θ| < tol; returns the step count."""
    grad = jax.grad(lambda x: feature_loss(x, plane, hp, loss=loss))

    def cond(c):
        x, k = c
        return (jnp.abs(jnp.arctan2(x[1], x[0])) >= tol) & (k < max_steps)

    def body(c):
        x, k = c
        return x - lr * grad(x), k + 1

    return jax.lax.while_loop(cond, body, (x0, jnp.asarray(0)))[1]


_vg = jax.jit(polar_value_and_grad, static_argnames=("loss",))


@partial(jax.jit, static_argnums=(3,))
def _hessian(x, plane, hp, loss):
    return jax.hessian(lambda x: feature_loss(x, plane, hp, loss=loss))(x)


def measure(row: dict, cfg: dict) -> dict:
    """One row of the ratio table (see ratio_table.py's docstring for the columns)."""
    K = _K(row["K"])
    plane = plane_for(K)
    hp = make_hparams(0.0, row["lambda_H"], 0.0, row["alpha"], row["M"])
    loss = row["loss"]
    s_star = float(polar_minimizer_on_ray(plane, hp, loss=loss))
    r = cfg["probe_rel"]
    _, gs, _ = _vg(jnp.asarray((1 + r) * s_star), jnp.asarray(0.0), plane, hp, loss=loss)
    _, _, gt = _vg(jnp.asarray(s_star), jnp.asarray(r), plane, hp, loss=loss)
    gs, gt = abs(float(gs)), abs(float(gt))
    Hx = _hessian(jnp.asarray([s_star, 0.0]), plane, hp, loss)

    x0 = s_star * jnp.asarray([math.cos(cfg["gd_theta0"]), math.sin(cfg["gd_theta0"])])
    steps = _gd_steps(x0, plane, hp, jnp.asarray(cfg["gd_lr"]), jnp.asarray(cfg["gd_tol"]), cfg["gd_max_steps"], loss)
    return {**row, "s_star": s_star, "grad_s": gs, "grad_theta": gt, "ratio_rad": gt / gs,
            "ratio_euc": gt / s_star / gs, "kappa_r": float(Hx[0, 0]), "kappa_t": float(Hx[1, 1]),
            "gd_steps": int(steps)}


def ratio_markdown(rows) -> str:
    head = ("| loss | K | α | M | λ_H | s* | \\|∂f/∂s\\| (1.1 s*, 0) | \\|∂f/∂θ\\| (s*, 0.1) | ratio per radian | "
            "ratio Euclidean | κ_r | κ_t | GD steps (η=0.1) |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['loss']} | {r['K']} | {r['alpha']:g} | {r['M']:g} | {r['lambda_H']:g} | {r['s_star']:.4g} | "
            f"{r['grad_s']:.4g} | {r['grad_theta']:.4g} | {r['ratio_rad']:.4g} | {r['ratio_euc']:.4g} | "
            f"{r['kappa_r']:.4g} | {r['kappa_t']:.4g} | {r['gd_steps']} |")
    return "\n".join(lines) + "\n"


@float64
def run_ratio_table(cfg: dict, out_dir: str) -> list[dict]:
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    rows = [measure(r, cfg) for r in cfg["rows"]]
    write_config(out_dir, cfg)
    write_jsonl(os.path.join(out_dir, "table.jsonl"), rows)
    md = ratio_markdown(rows)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"{len(rows)} rows in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    return rows


# ---- slices of the full UFM objective ---------------------------------------------------------------

_slice_1d = jax.jit(slice_1d, static_argnums=(0,))  # one compile per objective and shape
_slice_2d = jax.jit(slice_2d, static_argnums=(0,))


def _line(obj, x0, data, hp, d, span, num):
    t = jnp.linspace(-span, span, num)
    return np.asarray(t).tolist(), np.asarray(_slice_1d(obj, x0, data, hp, d, t)).tolist()


def _plane(obj, x0, data, hp, d1, d2, span, num):
    t = jnp.linspace(-span, span, num)
    return np.asarray(t).tolist(), np.asarray(_slice_2d(obj, x0, data, hp, d1, d2, t, t)).tolist()


@float64
def run_slices(cfg: dict, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()

    def ctx(**kw):
        p = Problem(**{**cfg["problem"], **kw})
        return p, p.data(), p.hparams(), objective_for(p.loss)

    res: dict = {}
    n1, n2 = cfg["points_1d"], cfg["points_2d"]
    # (a) random filter-normalised 1-D at the MSE and CE global minima
    res["a"] = []
    for loss, kw in (("mse", {}), ("ce", {"lambda_W": 1e-3, "lambda_H": 1e-3, "lambda_b": 1e-3})):
        p, data, hp, obj = ctx(loss=loss, **kw)
        x0, info = point_for(p, "global")
        for seed in cfg["seeds"]:
            (d,), _ = directions_for("random", obj, x0, data, hp, key=jax.random.PRNGKey(seed))
            t, v = _line(obj, x0, data, hp, d, cfg["span_random"], n1)
            res["a"].append({"loss": loss, "seed": seed, "f_star": info["f_star"], "t": t, "loss_values": v})
    # (b) top / bottom Hessian eigenvectors at the MSE global minimum; (c) 2-D random there
    p, data, hp, obj = ctx()
    x0, info = point_for(p, "global")
    res["b"] = []
    for kind in ("hessian-top", "hessian-bottom"):
        (d,), dinfo = directions_for(kind, obj, x0, data, hp)
        t, v = _line(obj, x0, data, hp, d, cfg["span_hessian"], n1)
        res["b"].append({"kind": kind, "eigenvalue": dinfo["eigenvalues"][0], "f_star": info["f_star"], "t": t, "loss_values": v})
    (d1, d2), _ = directions_for("random", obj, x0, data, hp, dims=2, key=jax.random.PRNGKey(7))
    t, V = _plane(obj, x0, data, hp, d1, d2, cfg["span_random"], n2)
    res["c"] = {"t": t, "loss_values": V, "f_star": info["f_star"]}
    # (d) negative curvature through the no-bias critical points; (e) 2-D through S = {0, 1}
    p, data, hp, obj = ctx(bias=False)
    res["d"] = []
    for S in cfg["saddles"]:
        at = "saddle:" + ",".join(map(str, S))
        x0, info = point_for(p, at)
        if info["predicted_min_eig"] is None:  # global: no negative curvature, draw the bottom direction
            (d,), dinfo = directions_for("hessian-bottom", obj, x0, data, hp)
        else:
            (d,), dinfo = directions_for("negative-curvature", obj, x0, data, hp)
        t, v = _line(obj, x0, data, hp, d, cfg["span_hessian"], n1)
        res["d"].append({"S": S, "f_critical": info["f_critical"], "predicted_min_eig": info["predicted_min_eig"],
                         "eigenvalue": dinfo["eigenvalues"][0], "is_global": info["is_global"], "t": t, "loss_values": v})
    x0, info = point_for(p, "saddle:0,1")
    (v1, v2), dinfo = directions_for("negative-curvature", obj, x0, data, hp, dims=2)
    t, V = _plane(obj, x0, data, hp, v1, v2, cfg["span_hessian"], n2)
    res["e"] = {"t": t, "loss_values": V, "eigenvalues": dinfo["eigenvalues"], "f_critical": info["f_critical"]}
    # (f) rescaled MSE solved by L-BFGS, 2-D random
    p, data, hp, obj = ctx(loss="rescaled_mse", **cfg["rescaled"])
    x0, info = point_for(p, "solve", steps=cfg["solve_steps"])
    (d1, d2), _ = directions_for("random", obj, x0, data, hp, dims=2, key=jax.random.PRNGKey(7))
    t, V = _plane(obj, x0, data, hp, d1, d2, cfg["span_random"], n2)
    res["f"] = {"t": t, "loss_values": V, "f0": float(obj(x0, data, hp)), **{k: info[k] for k in ("solve_status", "solve_steps", "grad_norm")}}
    write_config(out_dir, cfg)
    with open(os.path.join(out_dir, "slices.json"), "w") as f:
        json.dump(res, f)
    print(f"slices: computed in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    for r in res["d"]:
        print(f"  S={r['S']}: f={r['f_critical']:.6g}, min Hessian eigenvalue {r['eigenvalue']:.10g}, "
              f"THEORY.md §3 predicts {r['predicted_min_eig']}")
    return plot_slices(out_dir)


def plot_slices(out_dir: str) -> str:
    """Draw ``slices.png`` from ``slices.json``."""
    with open(os.path.join(out_dir, "slices.json")) as f:
        r = json.load(f)
    fig, axes = plots.figure(2, 3)
    ax = axes[0, 0]
    for c in r["a"]:
        ax.plot(c["t"], np.asarray(c["loss_values"]) - c["f_star"], label=f"{c['loss']} seed {c['seed']}",
                ls="-" if c["loss"] == "mse" else "--")
    ax.set(xlabel="t", ylabel="f - f*")
    ax.set_title("(a) random filter-normalised, global min", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[0, 1]
    for c in r["b"]:
        t = np.asarray(c["t"])
        ax.plot(t, np.asarray(c["loss_values"]) - c["f_star"], label=f"{c['kind']} (eig {c['eigenvalue']:.3g})")
        ax.plot(t, 0.5 * c["eigenvalue"] * t**2, ":", color="gray")
    ax.set(xlabel="t (unit direction)", ylabel="f - f*")
    ax.set_title("(b) Hessian eigenvectors, global min\n(dotted: eig t^2/2)", fontsize=9)
    ax.legend(fontsize=6)
    plots.plot_slice_2d(axes[0, 2], r["c"]["t"], r["c"]["t"], np.asarray(r["c"]["loss_values"]) - r["c"]["f_star"],
                        title="(c) 2-D random, MSE global min (f - f*)")
    ax = axes[1, 0]
    for c in r["d"]:
        t = np.asarray(c["t"])
        lab = f"S={c['S']}" + (" (global)" if c["is_global"] else f" eig {c['eigenvalue']:.3g}")
        ax.plot(t, np.asarray(c["loss_values"]) - c["f_critical"], label=lab)
        if c["predicted_min_eig"] is not None:
            ax.plot(t, 0.5 * c["predicted_min_eig"] * t**2, ":", color="gray")
    ax.set(xlabel="t (unit direction)", ylabel="f - f(critical)")
    ax.set_title("(d) most negative curvature, no-bias critical points\n(dotted: THEORY.md 3 eig t^2/2)", fontsize=9)
    ax.legend(fontsize=6)
    e = r["e"]
    plots.plot_slice_2d(axes[1, 1], e["t"], e["t"], np.asarray(e["loss_values"]) - e["f_critical"],
                        title=f"(e) saddle S={{0,1}}: eig {e['eigenvalues'][0]:.3g} x {e['eigenvalues'][1]:.3g}",
                        labels=("negative curvature", "top eigenvector"))
    fr = r["f"]
    plots.plot_slice_2d(axes[1, 2], fr["t"], fr["t"], np.asarray(fr["loss_values"]) - fr["f0"],
                        title=f"(f) rescaled MSE a=2 M=2, L-BFGS ({fr['solve_status']}), f - f0")
    path = os.path.join(out_dir, "slices.png")
    plots.save(fig, path)
    print(f"wrote {path}")
    return path
