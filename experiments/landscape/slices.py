"""Slices of the full UFM objective around solutions and through strict saddles.

Command:   .venv/bin/python -m experiments.landscape.slices       (tiny CI variant: --tiny --out DIR)
Run time:  ~10 s CPU on 2 cores, up to ~35 s wall on a busy machine (float64; dense Hessians of
           50-70 parameters, one L-BFGS solve).
Output:    experiments/landscape/results/slices/{config.json, slices.json, slices.png}
Problem:   K = 4, n = 2, d = 5, λ_W = λ_H = 1e-2 (λ_b = 1e-2 with bias; saddles: no bias).
Expected:  (a) random filter-normalised 1-D slices at the MSE and CE global minima never go below f*;
           (b) along the top/bottom Hessian eigenvectors the slice is ½λt² near 0 (bottom: λ ≈ 0, the
           rotation symmetry W → WQ, H → QᵀH); (c) a bowl in 2-D; (d) through every non-global
           critical point S of THEORY.md §3 the slice along the negative-curvature direction falls
           like ½λ_min t² with λ_min the closed-form value, while the global one (|S| = K) has none;
           (e) the 2-D saddle; (f) rescaled MSE (α = 2, M = 2, no closed form) solved by L-BFGS: a bowl.
"""
from __future__ import annotations

import json
import os
import time

from experiments.landscape.runner import cli, default_out  # sets x64

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nclandscape.landscape import directions_for, plots, point_for, slice_1d, slice_2d  # noqa: E402
from nclandscape.objectives import objective_for  # noqa: E402
from nclandscape.ufm import Problem  # noqa: E402

BASE = {"K": 4, "n": 2, "d": 5, "lambda_W": 1e-2, "lambda_H": 1e-2, "lambda_b": 1e-2}
CONFIG = {
    "name": "slices",
    "problem": BASE,
    "points_1d": 81,
    "points_2d": 41,
    "span_random": 1.0,
    "span_hessian": 1.5,
    "seeds": [0, 1, 2],
    "saddles": [[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3]],
    "rescaled": {"alpha": 2.0, "M": 2.0},
    "solve_steps": 3000,
}
TINY = {**CONFIG, "points_1d": 5, "points_2d": 3, "seeds": [0], "saddles": [[0], [0, 1, 2, 3]], "solve_steps": 20}


def _ctx(**kw):
    p = Problem(**{**BASE, **kw})
    return p, p.data(), p.hparams(), objective_for(p.loss)


_slice_1d = jax.jit(slice_1d, static_argnums=(0,))  # one compile per objective and shape
_slice_2d = jax.jit(slice_2d, static_argnums=(0,))


def _line(p, data, hp, obj, x0, d, span, num):
    t = jnp.linspace(-span, span, num)
    return np.asarray(t).tolist(), np.asarray(_slice_1d(obj, x0, data, hp, d, t)).tolist()


def _plane(p, data, hp, obj, x0, d1, d2, span, num):
    t = jnp.linspace(-span, span, num)
    return np.asarray(t).tolist(), np.asarray(_slice_2d(obj, x0, data, hp, d1, d2, t, t)).tolist()


def run(cfg: dict, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    res: dict = {}
    n1, n2 = cfg["points_1d"], cfg["points_2d"]
    # (a) random filter-normalised 1-D at the MSE and CE global minima
    res["a"] = []
    for loss, kw in (("mse", {}), ("ce", {"lambda_W": 1e-3, "lambda_H": 1e-3, "lambda_b": 1e-3})):
        p, data, hp, obj = _ctx(loss=loss, **kw)
        x0, info = point_for(p, "global")
        for seed in cfg["seeds"]:
            (d,), _ = directions_for("random", obj, x0, data, hp, key=jax.random.PRNGKey(seed))
            t, v = _line(p, data, hp, obj, x0, d, cfg["span_random"], n1)
            res["a"].append({"loss": loss, "seed": seed, "f_star": info["f_star"], "t": t, "loss_values": v})
    # (b) top / bottom Hessian eigenvectors at the MSE global minimum; (c) 2-D random there
    p, data, hp, obj = _ctx()
    x0, info = point_for(p, "global")
    res["b"] = []
    for kind in ("hessian-top", "hessian-bottom"):
        (d,), dinfo = directions_for(kind, obj, x0, data, hp)
        t, v = _line(p, data, hp, obj, x0, d, cfg["span_hessian"], n1)
        res["b"].append({"kind": kind, "eigenvalue": dinfo["eigenvalues"][0], "f_star": info["f_star"], "t": t, "loss_values": v})
    (d1, d2), _ = directions_for("random", obj, x0, data, hp, dims=2, key=jax.random.PRNGKey(7))
    t, V = _plane(p, data, hp, obj, x0, d1, d2, cfg["span_random"], n2)
    res["c"] = {"t": t, "loss_values": V, "f_star": info["f_star"]}
    # (d) negative curvature through the no-bias critical points; (e) 2-D through S = {0, 1}
    p, data, hp, obj = _ctx(bias=False)
    res["d"] = []
    for S in cfg["saddles"]:
        at = "saddle:" + ",".join(map(str, S))
        x0, info = point_for(p, at)
        if info["predicted_min_eig"] is None:  # global: no negative curvature, draw the bottom direction
            (d,), dinfo = directions_for("hessian-bottom", obj, x0, data, hp)
        else:
            (d,), dinfo = directions_for("negative-curvature", obj, x0, data, hp)
        t, v = _line(p, data, hp, obj, x0, d, cfg["span_hessian"], n1)
        res["d"].append({"S": S, "f_critical": info["f_critical"], "predicted_min_eig": info["predicted_min_eig"],
                         "eigenvalue": dinfo["eigenvalues"][0], "is_global": info["is_global"], "t": t, "loss_values": v})
    x0, info = point_for(p, "saddle:0,1")
    (v1, v2), dinfo = directions_for("negative-curvature", obj, x0, data, hp, dims=2)
    t, V = _plane(p, data, hp, obj, x0, v1, v2, cfg["span_hessian"], n2)
    res["e"] = {"t": t, "loss_values": V, "eigenvalues": dinfo["eigenvalues"], "f_critical": info["f_critical"]}
    # (f) rescaled MSE solved by L-BFGS, 2-D random
    p, data, hp, obj = _ctx(loss="rescaled_mse", **cfg["rescaled"])
    x0, info = point_for(p, "solve", steps=cfg["solve_steps"])
    (d1, d2), _ = directions_for("random", obj, x0, data, hp, dims=2, key=jax.random.PRNGKey(7))
    t, V = _plane(p, data, hp, obj, x0, d1, d2, cfg["span_random"], n2)
    res["f"] = {"t": t, "loss_values": V, "f0": float(obj(x0, data, hp)), **{k: info[k] for k in ("solve_status", "solve_steps", "grad_norm")}}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(out_dir, "slices.json"), "w") as f:
        json.dump(res, f)
    print(f"slices: computed in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    for r in res["d"]:
        print(f"  S={r['S']}: f={r['f_critical']:.6g}, min Hessian eigenvalue {r['eigenvalue']:.10g}, "
              f"THEORY.md §3 predicts {r['predicted_min_eig']}")
    return plot(out_dir)


def plot(out_dir: str) -> str:
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


def main(argv=None):
    args = cli(__doc__, "slices").parse_args(argv)
    return run(TINY if args.tiny else CONFIG, args.out or default_out("slices"))


if __name__ == "__main__":
    main()
