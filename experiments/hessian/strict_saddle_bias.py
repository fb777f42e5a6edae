"""Open question (i): with bias and d <= K, is every non-global critical point a strict saddle?

    .venv/bin/python -m experiments.hessian.strict_saddle_bias          # ~3 min on 2 CPU cores
    .venv/bin/python -m experiments.hessian.strict_saddle_bias --tiny   # ~30 s

The MSE paper proves the strict-saddle property with bias only for d > K (Thm 3.3). Here, for
vanilla MSE with bias, K = 4, n = 3 and d = 1 … 4, we collect critical points two ways: (a)
Newton on the class-collapsed problem from the §3-type construction for Y − β 1 1ᵀ (every subset
S of the basis of 1^⊥ with |S| <= d, with and without the 1-direction, several β), (b) random
collapsed starts (several scales), L-BFGS on ‖∇g‖², then Newton. (Every critical point of MSE with
λ_H > 0 is class-collapsed — see ``nclandscape.hessian.critical`` — so this search is over all
critical points.) Each point with ‖∇f‖ <= 1e-10 (full objective) is certified with its exact
structured spectrum; distinct critical values are kept.
Expected result: every non-global critical point found has λ_min < 0 (a strict saddle), also
those with rank W = d where the escape-direction argument of §3 does not apply.
Outputs: config.json, results.jsonl (one row per distinct critical point), strict_saddle_bias.png.
"""
from __future__ import annotations

import dataclasses
import itertools

from experiments.hessian import common


@dataclasses.dataclass(frozen=True)
class Config:
    K: int = 4
    n: int = 3
    ds: tuple = (1, 2, 3, 4)
    lambda_W: float = 1e-2
    lambda_H: float = 1e-2
    lambda_bs: tuple = (1e-3, 1e-1, 1.0)
    betas: tuple = (None, 0.0, 0.15)  # None: 1/(K(1+λ_b))
    random_starts: int = 48
    scales: tuple = (0.1, 0.5, 1.5)
    descent_steps: int = 300
    grad_tol: float = 1e-10


TINY = Config(ds=(2, 4), lambda_bs=(1e-1,), betas=(None,), random_starts=8, scales=(0.5,), descent_steps=100)


def run(cfg: Config, out: str) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from nclandscape.hessian.certify import certify
    from nclandscape.hessian.critical import (bias_family_start, global_point, gradient_norm_descent, newton_critical_point,
                                              random_collapsed_start)
    from nclandscape.objectives import objective_for
    from nclandscape.solve import tree_norm
    from nclandscape.ufm import Problem

    common.start(out, cfg)
    obj = objective_for("mse")
    rows = []
    for d, lb in itertools.product(cfg.ds, cfg.lambda_bs):
        pr = Problem(K=cfg.K, n=cfg.n, d=d, lambda_W=cfg.lambda_W, lambda_H=cfg.lambda_H, lambda_b=lb)
        data, hp = pr.data(), pr.hparams()
        newton = jax.jit(jax.vmap(lambda p: newton_critical_point(obj, p, data, hp)))
        starts = []
        for r in range(0, min(d, cfg.K - 1) + 1):
            for S in itertools.combinations(range(cfg.K - 1), r):
                for with_ones in (False, True):
                    if len(S) + with_ones > d:
                        continue
                    for beta in cfg.betas:
                        starts.append(bias_family_start(pr, S, with_ones=with_ones, beta=beta))
        starts.append(global_point(pr))  # the closed-form global minimiser (certifies f*)
        structured = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *starts)
        keys = jax.random.split(jax.random.PRNGKey(d * 100 + int(lb * 1000)), cfg.random_starts * len(cfg.scales))
        scales = jnp.repeat(jnp.asarray(cfg.scales), cfg.random_starts)
        rnd = jax.vmap(lambda k, s: random_collapsed_start(k, data, scale=s))(keys, scales)
        rnd = jax.jit(jax.vmap(lambda p: gradient_norm_descent(obj, p, data, hp, steps=cfg.descent_steps)))(rnd)
        found = []
        for batch, origin in ((structured, "family"), (rnd, "random")):
            res = newton(batch)
            gnorm = jax.jit(jax.vmap(lambda p: tree_norm(jax.grad(lambda q: obj(q, data, hp))(p))))(res.params)
            vals = jax.jit(jax.vmap(lambda p: obj(p, data, hp)))(res.params)
            for i in range(int(vals.shape[0])):
                if float(gnorm[i]) <= cfg.grad_tol:
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
            row = {"K": cfg.K, "n": cfg.n, "d": d, "lambda_W": cfg.lambda_W, "lambda_H": cfg.lambda_H, "lambda_b": lb,
                   "objective": rep["objective"], "f_star": rep["f_star"], "gap": rep["gap"], "grad_norm": rep["grad_norm"],
                   "min_eig": rep["min_eig"], "index": rep["index"], "num_zero": rep["num_zero"],
                   "escape_bound": rep["escape_bound"], "rank_W": rank_W, "beta_mean": float(np.mean(np.asarray(p.b))),
                   "classification": rep["classification"], "found_by": origin, "hits": hits,
                   "starts": len(starts) + cfg.random_starts * len(cfg.scales)}
            rows.append(row)
            common.write(out, row)
            print(f"d={d} lambda_b={lb:g}: f={row['objective']:.8f} gap={row['gap']:.2e} min_eig={row['min_eig']:.3e} "
                  f"index={row['index']} rank W={rank_W} escape_bound={row['escape_bound']} -> {row['classification']} "
                  f"({origin}, {hits} hits)", flush=True)
    plot(out)
    return rows


def plot(out: str) -> None:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = common.read(out)
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
    fig.savefig(os.path.join(out, "strict_saddle_bias.png"), dpi=120)
    plt.close(fig)


def main():
    args = common.parse(__doc__, common.here("out", "strict_saddle_bias"))
    run(TINY if args.tiny else Config(), args.out + ("_tiny" if args.tiny and args.out == common.here("out", "strict_saddle_bias") else ""))


if __name__ == "__main__":
    main()
