"""Open question (ii): rescaled MSE — are the global minimisers NC, and how do α and M change the
curvature at the minimum?

    .venv/bin/python -m experiments.hessian.rescaled_curvature          # ~2 min on 2 CPU cores
    .venv/bin/python -m experiments.hessian.rescaled_curvature --tiny   # ~20 s

Rescaled MSE (THEORY.md §1) has no closed-form minimiser. For K = 4, n = 3, d = 4 (bias,
λ_W = λ_H = 5e-3, λ_b = 1e-2) and each (α, M) on a grid, we minimise from ``seeds`` random
starts (float64 L-BFGS, ‖∇f‖ <= 1e-10), keep the lowest value, check that every converged seed
reaches it (evidence of a unique global value), certify it with the exact structured spectrum
(λ_min, index) and record NC1/NC2/NC3, the smallest non-zero eigenvalue λ_+ (eigenvalues below
1e-8 · λ_max are the zero modes of the O(d) rotation symmetry W → WQ, H → QᵀH) and the condition
number κ = λ_max / λ_+.
Expected result: all seeds reach one value, NC1 ≈ 0 and NC2, NC3 ≈ 0 (simplex ETF) at every
(α, M), with λ_min ≈ 0 (only symmetry zero modes); κ changes with α and M (printed and plotted).
Outputs: config.json, results.jsonl, rescaled_curvature.png.
"""
from __future__ import annotations

import dataclasses
import itertools

from experiments.hessian import common


@dataclasses.dataclass(frozen=True)
class Config:
    K: int = 4
    n: int = 3
    d: int = 4
    lambda_W: float = 5e-3
    lambda_H: float = 5e-3
    lambda_b: float = 1e-2
    alphas: tuple = (1.0, 2.0, 4.0, 8.0)
    Ms: tuple = (1.0, 2.0, 4.0, 8.0)
    seeds: int = 6
    steps: int = 3000
    zero_rtol: float = 1e-8


TINY = Config(alphas=(1.0, 4.0), Ms=(1.0, 4.0), seeds=2, steps=1500)


def run(cfg: Config, out: str) -> list[dict]:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from nclandscape.hessian.certify import certify
    from nclandscape.metrics import nc_metrics
    from nclandscape.objectives import objective_for
    from nclandscape.solve import solve
    from nclandscape.ufm import Problem, init_params

    common.start(out, cfg)
    obj = objective_for("rescaled_mse")
    rows = []
    for alpha, M in itertools.product(cfg.alphas, cfg.Ms):
        pr = Problem(K=cfg.K, n=cfg.n, d=cfg.d, lambda_W=cfg.lambda_W, lambda_H=cfg.lambda_H, lambda_b=cfg.lambda_b,
                     loss="rescaled_mse", alpha=alpha, M=M)
        data, hp = pr.data(), pr.hparams()

        @jax.jit
        def many(keys):
            def one(k):
                return solve(obj, init_params(k, data, scale=0.5), data, hp, optimizer="lbfgs", max_steps=cfg.steps, tol=1e-10)

            return jax.vmap(one)(keys)

        res = many(jax.random.split(jax.random.PRNGKey(0), cfg.seeds))
        ok = np.asarray(res.status) == 0
        vals = np.asarray(res.value)
        best = int(np.argmin(np.where(ok, vals, np.inf)))
        p = jax.tree_util.tree_map(lambda a: a[best], res.params)
        rep = certify(pr, obj, p, data, hp, method="auto")
        ev = np.asarray(rep["eigenvalues"])
        lmax = float(ev[-1])
        nonzero = ev[np.abs(ev) > cfg.zero_rtol * lmax]
        lplus = float(np.min(nonzero[nonzero > 0]))
        m = nc_metrics(p.W, p.H, p.b, data.Y)
        row = {"alpha": alpha, "M": M, "objective": rep["objective"], "grad_norm": rep["grad_norm"],
               "seeds_converged": int(ok.sum()), "seeds": cfg.seeds,
               "seed_value_spread": float(np.ptp(vals[ok])) if ok.any() else None,
               "method": rep["method"], "min_eig": rep["min_eig"], "index": rep["index"],
               "num_zero": int(np.sum(np.abs(ev) <= cfg.zero_rtol * lmax)), "lambda_plus": lplus, "lambda_max": lmax,
               "condition": lmax / lplus, "classification": rep["classification"],
               "nc1": float(m.nc1), "nc2": float(m.nc2), "nc3": float(m.nc3), "b_mean": float(np.mean(np.asarray(p.b)))}
        rows.append(row)
        common.write(out, row)
        print(f"alpha={alpha:g} M={M:g}: f={row['objective']:.8g} seeds ok {row['seeds_converged']}/{cfg.seeds} spread "
              f"{row['seed_value_spread']:.1e} | min_eig {row['min_eig']:.2e} index {row['index']} zeros {row['num_zero']} "
              f"lambda+ {lplus:.3e} lambda_max {lmax:.3g} cond {row['condition']:.3g} | NC1 {row['nc1']:.1e} "
              f"NC2 {row['nc2']:.1e} NC3 {row['nc3']:.1e}", flush=True)
    plot(out)
    return rows


def plot(out: str) -> None:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = common.read(out)
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
    fig.savefig(os.path.join(out, "rescaled_curvature.png"), dpi=120)
    plt.close(fig)


def main():
    args = common.parse(__doc__, common.here("out", "rescaled_curvature"))
    default = common.here("out", "rescaled_curvature")
    run(TINY if args.tiny else Config(), args.out + ("_tiny" if args.tiny and args.out == default else ""))


if __name__ == "__main__":
    main()
