"""The Hessian experiments' runner: open questions of the MSE paper, probed numerically.

Three experiment types, each ``run_*(config, out_dir)`` (named by a config's ``RUNNER``; run with
``python -m experiments experiments/hessian/<name>.py``), all in float64; each writes
``config.json`` and ``results.jsonl`` (one JSON line per setting or critical point, appended as
it is computed), then ``plot_*(out_dir)`` draws its PNG from ``results.jsonl``:

* :func:`run_strict_saddle_bias` (strict_saddle_bias.py): every critical point of MSE with bias
  found from structured and random starts, certified by its exact spectrum;
* :func:`run_rescaled_curvature` (rescaled_curvature.py): the rescaled-MSE minimiser's NC metrics
  and curvature over an (α, M) grid;
* :func:`run_ce_spectra` (ce_spectra.py): the CE and MSE global minima's spectra over (d, λ).
"""
from __future__ import annotations

import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import append_jsonl, float64, read_jsonl, write_config
from nclandscape.fileio import atomic_savefig
from nclandscape.hessian.certify import certify
from nclandscape.hessian.critical import (bias_family_start, global_point, gradient_norm_descent, newton_critical_point,
                                          random_collapsed_start)
from nclandscape.metrics import nc_metrics
from nclandscape.objectives import objective_for
from nclandscape.solve import solve, tree_norm
from nclandscape.ufm import Problem, init_params


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def start(out: str, config: dict) -> None:
    """``config.json`` and an empty ``results.jsonl`` (a rerun starts the file afresh)."""
    write_config(out, config)
    open(os.path.join(out, "results.jsonl"), "w").close()


@float64
def run_strict_saddle_bias(cfg: dict, out: str) -> list[dict]:
    start(out, cfg)
    obj = objective_for("mse")
    rows = []
    for d, lb in itertools.product(cfg["ds"], cfg["lambda_bs"]):
        pr = Problem(K=cfg["K"], n=cfg["n"], d=d, lambda_W=cfg["lambda_W"], lambda_H=cfg["lambda_H"], lambda_b=lb)
        data, hp = pr.data(), pr.hparams()
        newton = jax.jit(jax.vmap(lambda p: newton_critical_point(obj, p, data, hp)))
        starts = []
        for r in range(0, min(d, cfg["K"] - 1) + 1):
            for S in itertools.combinations(range(cfg["K"] - 1), r):
                for with_ones in (False, True):
                    if len(S) + with_ones > d:
                        continue
                    for beta in cfg["betas"]:
                        starts.append(bias_family_start(pr, S, with_ones=with_ones, beta=beta))
        starts.append(global_point(pr))  # the closed-form global minimiser (certifies f*)
        structured = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *starts)
        keys = jax.random.split(jax.random.PRNGKey(d * 100 + int(lb * 1000)), cfg["random_starts"] * len(cfg["scales"]))
        scales = jnp.repeat(jnp.asarray(cfg["scales"]), cfg["random_starts"])
        rnd = jax.vmap(lambda k, s: random_collapsed_start(k, data, scale=s))(keys, scales)
        rnd = jax.jit(jax.vmap(lambda p: gradient_norm_descent(obj, p, data, hp, steps=cfg["descent_steps"])))(rnd)
        found = []
        for batch, origin in ((structured, "family"), (rnd, "random")):
            res = newton(batch)
            gnorm = jax.jit(jax.vmap(lambda p: tree_norm(jax.grad(lambda q: obj(q, data, hp))(p))))(res.params)
            vals = jax.jit(jax.vmap(lambda p: obj(p, data, hp)))(res.params)
            for i in range(int(vals.shape[0])):
                if float(gnorm[i]) <= cfg["grad_tol"]:
                    found.append((float(vals[i]), origin, jax.tree_util.tree_map(lambda a: a[i], res.params)))
        found.sort(key=lambda t: t[0])
        distinct = []
        for v, origin, p in found:
            if not distinct or abs(v - distinct[-1][0]) > 1e-9:
                distinct.append((v, origin, p, 1))
            else:
                distinct[-1] = (*distinct[-1][:3], distinct[-1][3] + 1)
        for v, origin, p, hits in distinct:
            rep = certify(pr, obj, p, data, hp, method="structured")
            rank_W = int(np.linalg.matrix_rank(np.asarray(p.W), tol=1e-8))
            row = {"K": cfg["K"], "n": cfg["n"], "d": d, "lambda_W": cfg["lambda_W"], "lambda_H": cfg["lambda_H"], "lambda_b": lb,
                   "objective": rep["objective"], "f_star": rep["f_star"], "gap": rep["gap"], "grad_norm": rep["grad_norm"],
                   "min_eig": rep["min_eig"], "index": rep["index"], "num_zero": rep["num_zero"],
                   "escape_bound": rep["escape_bound"], "rank_W": rank_W, "beta_mean": float(np.mean(np.asarray(p.b))),
                   "classification": rep["classification"], "found_by": origin, "hits": hits,
                   "starts": len(starts) + cfg["random_starts"] * len(cfg["scales"])}
            rows.append(row)
            append_jsonl(os.path.join(out, "results.jsonl"), row)
            print(f"d={d} lambda_b={lb:g}: f={row['objective']:.8f} gap={row['gap']:.2e} min_eig={row['min_eig']:.3e} "
                  f"index={row['index']} rank W={rank_W} escape_bound={row['escape_bound']} -> {row['classification']} "
                  f"({origin}, {hits} hits)", flush=True)
    plot_strict_saddle_bias(out)
    return rows


def plot_strict_saddle_bias(out: str) -> None:
    plt = _pyplot()
    rows = read_jsonl(os.path.join(out, "results.jsonl"))
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    markers = {1: "o", 2: "s", 3: "^", 4: "D"}
    for r in rows:
        glob = r["classification"] == "global minimum"
        color = "tab:green" if glob else ("tab:red" if r["classification"] == "strict saddle" else "black")
        ax.scatter(max(r["gap"], 1e-16), r["min_eig"], marker=markers.get(r["d"], "x"), color=color,
                   facecolors="none" if r["rank_W"] < r["d"] else color, s=40)
    for d, m in markers.items():
        ax.scatter([], [], marker=m, color="gray", label=f"d={d}")
    ax.scatter([], [], color="tab:red", label="strict saddle")
    ax.scatter([], [], color="tab:green", label="global minimum")
    ax.scatter([], [], color="gray", facecolors="none", label="hollow: rank W < d")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("f − f*  (1e-16 = global)")
    ax.set_ylabel("λ_min(∇²f)")
    ax.set_title("MSE with bias, K=4, n=3: every critical point found")
    ax.legend(fontsize=7, loc="lower right")
    atomic_savefig(fig, os.path.join(out, "strict_saddle_bias.png"), dpi=120)
    plt.close(fig)


@float64
def run_rescaled_curvature(cfg: dict, out: str) -> list[dict]:
    start(out, cfg)
    obj = objective_for("rescaled_mse")
    rows = []
    for alpha, M in itertools.product(cfg["alphas"], cfg["Ms"]):
        pr = Problem(K=cfg["K"], n=cfg["n"], d=cfg["d"], lambda_W=cfg["lambda_W"], lambda_H=cfg["lambda_H"], lambda_b=cfg["lambda_b"],
                     loss="rescaled_mse", alpha=alpha, M=M)
        data, hp = pr.data(), pr.hparams()

        @jax.jit
        def many(keys):
            def one(k):
                return solve(obj, init_params(k, data, scale=0.5), data, hp, optimizer="lbfgs", max_steps=cfg["steps"], tol=1e-10)

            return jax.vmap(one)(keys)

        res = many(jax.random.split(jax.random.PRNGKey(0), cfg["seeds"]))
        ok = np.asarray(res.status) == 0
        vals = np.asarray(res.value)
        best = int(np.argmin(np.where(ok, vals, np.inf)))
        p = jax.tree_util.tree_map(lambda a: a[best], res.params)
        rep = certify(pr, obj, p, data, hp, method="auto")
        ev = np.asarray(rep["eigenvalues"])
        lmax = float(ev[-1])
        nonzero = ev[np.abs(ev) > cfg["zero_rtol"] * lmax]
        lplus = float(np.min(nonzero[nonzero > 0]))
        m = nc_metrics(p.W, p.H, p.b, data.Y)
        row = {"alpha": alpha, "M": M, "objective": rep["objective"], "grad_norm": rep["grad_norm"],
               "seeds_converged": int(ok.sum()), "seeds": cfg["seeds"],
               "seed_value_spread": float(np.ptp(vals[ok])) if ok.any() else None,
               "method": rep["method"], "min_eig": rep["min_eig"], "index": rep["index"],
               "num_zero": int(np.sum(np.abs(ev) <= cfg["zero_rtol"] * lmax)), "lambda_plus": lplus, "lambda_max": lmax,
               "condition": lmax / lplus, "classification": rep["classification"],
               "nc1": float(m.nc1), "nc2": float(m.nc2), "nc3": float(m.nc3), "b_mean": float(np.mean(np.asarray(p.b)))}
        rows.append(row)
        append_jsonl(os.path.join(out, "results.jsonl"), row)
        print(f"alpha={alpha:g} M={M:g}: f={row['objective']:.8g} seeds ok {row['seeds_converged']}/{cfg['seeds']} spread "
              f"{row['seed_value_spread']:.1e} | min_eig {row['min_eig']:.2e} index {row['index']} zeros {row['num_zero']} "
              f"lambda+ {lplus:.3e} lambda_max {lmax:.3g} cond {row['condition']:.3g} | NC1 {row['nc1']:.1e} "
              f"NC2 {row['nc2']:.1e} NC3 {row['nc3']:.1e}", flush=True)
    plot_rescaled_curvature(out)
    return rows


def plot_rescaled_curvature(out: str) -> None:
    plt = _pyplot()
    rows = read_jsonl(os.path.join(out, "results.jsonl"))
    alphas = sorted({r["alpha"] for r in rows})
    Ms = sorted({r["M"] for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for ax, key, label in zip(axes, ("condition", "lambda_plus", "lambda_max"),
                              ("condition number λ_max/λ_+", "smallest non-zero eigenvalue λ_+", "λ_max")):
        for M in Ms:
            ys = [next(r[key] for r in rows if r["alpha"] == a and r["M"] == M) for a in alphas]
            ax.plot(alphas, ys, "o-", label=f"M={M:g}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("α")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    nc = max(max(r["nc1"], r["nc2"], r["nc3"]) for r in rows)
    fig.suptitle(f"rescaled MSE at the minimum (K=4, n=3, d=4): max NC1/NC2/NC3 over the grid = {nc:.1e}", fontsize=10)
    atomic_savefig(fig, os.path.join(out, "rescaled_curvature.png"), dpi=120)
    plt.close(fig)


def _curvature(ev, zero_rtol):
    ev = np.asarray(ev)
    lmax = float(ev[-1])
    nz = ev[np.abs(ev) > zero_rtol * lmax]
    lplus = float(np.min(nz[nz > 0]))
    return {"lambda_plus": lplus, "lambda_max": lmax, "condition": lmax / lplus,
            "num_zero": int(np.sum(np.abs(ev) <= zero_rtol * lmax))}


@float64
def run_ce_spectra(cfg: dict, out: str) -> list[dict]:
    start(out, cfg)
    rows = []
    for d, lam in itertools.product(cfg["ds"], cfg["lambdas"]):
        row = {"K": cfg["K"], "n": cfg["n"], "d": d, "lambda": lam, "lambda_b": cfg["lambda_b"]}
        for loss in ("ce", "mse"):
            pr = Problem(K=cfg["K"], n=cfg["n"], d=d, lambda_W=lam, lambda_H=lam, lambda_b=cfg["lambda_b"], loss=loss)
            data, hp = pr.data(), pr.hparams()
            obj = objective_for(loss)
            p = global_point(pr)
            rep = certify(pr, obj, p, data, hp, method="structured")
            res = jax.jit(jax.vmap(lambda k: solve(obj, init_params(k, data, scale=0.5), data, hp, optimizer="lbfgs",
                                                   max_steps=cfg["steps"], tol=1e-10)))(jax.random.split(jax.random.PRNGKey(1), cfg["seeds"]))
            best = float(np.min(np.asarray(res.value)))
            row.update({f"{loss}_{k}": v for k, v in _curvature(rep["eigenvalues"], cfg["zero_rtol"]).items()})
            row.update({f"{loss}_f_star": rep["f_star"], f"{loss}_grad_norm": rep["grad_norm"],
                        f"{loss}_min_eig": rep["min_eig"], f"{loss}_index": rep["index"],
                        f"{loss}_solver_best_minus_f_star": best - rep["f_star"],
                        f"{loss}_classification": rep["classification"]})
        rows.append(row)
        append_jsonl(os.path.join(out, "results.jsonl"), row)
        print(f"d={d} lambda={lam:g}: CE f*={row['ce_f_star']:.6g} |grad| {row['ce_grad_norm']:.1e} min_eig "
              f"{row['ce_min_eig']:.1e} index {row['ce_index']} zeros {row['ce_num_zero']} lambda+ {row['ce_lambda_plus']:.3e} "
              f"lambda_max {row['ce_lambda_max']:.3e} cond {row['ce_condition']:.3g} solver-f* "
              f"{row['ce_solver_best_minus_f_star']:.1e} | MSE lambda+ {row['mse_lambda_plus']:.3e} lambda_max "
              f"{row['mse_lambda_max']:.3g} cond {row['mse_condition']:.3g} index {row['mse_index']}", flush=True)
    plot_ce_spectra(out)
    return rows


def plot_ce_spectra(out: str) -> None:
    plt = _pyplot()
    rows = read_jsonl(os.path.join(out, "results.jsonl"))
    ds = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for ax, key, label in zip(axes, ("condition", "lambda_plus", "lambda_max"),
                              ("condition number λ_max/λ_+", "smallest non-zero eigenvalue λ_+", "λ_max")):
        for d in ds:
            rs = sorted((r for r in rows if r["d"] == d), key=lambda r: r["lambda"])
            lam = [r["lambda"] for r in rs]
            ax.plot(lam, [r[f"ce_{key}"] for r in rs], "o-", label=f"CE d={d}")
            ax.plot(lam, [r[f"mse_{key}"] for r in rs], "s--", label=f"MSE d={d}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("λ_W = λ_H")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle("Hessian at the global minimum, K=4, n=3 (closed-form minimisers, structured spectra)", fontsize=10)
    atomic_savefig(fig, os.path.join(out, "ce_spectra.png"), dpi=120)
    plt.close(fig)
