"""Open question (iii): Hessian spectra of cross-entropy at its global minimum, beside vanilla MSE.

    .venv/bin/python -m experiments.hessian.ce_spectra          # ~1 min on 2 CPU cores
    .venv/bin/python -m experiments.hessian.ce_spectra --tiny   # ~15 s

For K = 4, n = 3, d ∈ {3, 4, 6} (bias, λ_b = 1e-2) and λ_W = λ_H = λ on a grid, the closed-form CE
minimiser (THEORY.md §2b: simplex-ETF W, h = c w^k, b = 0) is certified with its exact structured
spectrum (‖∇f‖, λ_min, index), cross-checked by float64 L-BFGS from random starts (the best value
must equal f*), and compared with the closed-form vanilla-MSE minimiser of the same problem:
smallest non-zero eigenvalue λ_+ (eigenvalues below 1e-8 · λ_max are the O(d) rotation zero
modes), λ_max, condition number κ = λ_max / λ_+ and the number of zero modes.
Expected result (measured, see experiments/RESULTS.md): every CE minimiser is a minimum
with only symmetry zero modes (index 0) and λ_+ = λ (the weight decay); its λ_max is small
(softmax curvature p(1 − p) at a confident optimum, ≈ 0.02 … 0.1) while MSE's is ≈ 1.1, so at
the minimum CE is far *better* conditioned than MSE (κ ≈ 10–20 vs ≈ 1/λ).
Outputs: config.json, results.jsonl, ce_spectra.png.
"""
from __future__ import annotations

import dataclasses
import itertools

from experiments.hessian import common


@dataclasses.dataclass(frozen=True)
class Config:
    K: int = 4
    n: int = 3
    ds: tuple = (3, 4, 6)
    lambdas: tuple = (1e-3, 3e-3, 1e-2, 3e-2)
    lambda_b: float = 1e-2
    seeds: int = 4
    steps: int = 3000
    zero_rtol: float = 1e-8


TINY = Config(ds=(3,), lambdas=(1e-3, 1e-2), seeds=2, steps=1500)


def _curvature(ev, zero_rtol):
    import numpy as np

    ev = np.asarray(ev)
    lmax = float(ev[-1])
    nz = ev[np.abs(ev) > zero_rtol * lmax]
    lplus = float(np.min(nz[nz > 0]))
    return {"lambda_plus": lplus, "lambda_max": lmax, "condition": lmax / lplus,
            "num_zero": int(np.sum(np.abs(ev) <= zero_rtol * lmax))}


def run(cfg: Config, out: str) -> list[dict]:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from nclandscape.hessian.certify import certify
    from nclandscape.hessian.critical import global_point
    from nclandscape.objectives import objective_for
    from nclandscape.solve import solve
    from nclandscape.ufm import Problem, init_params

    common.start(out, cfg)
    rows = []
    for d, lam in itertools.product(cfg.ds, cfg.lambdas):
        row = {"K": cfg.K, "n": cfg.n, "d": d, "lambda": lam, "lambda_b": cfg.lambda_b}
        for loss in ("ce", "mse"):
            pr = Problem(K=cfg.K, n=cfg.n, d=d, lambda_W=lam, lambda_H=lam, lambda_b=cfg.lambda_b, loss=loss)
            data, hp = pr.data(), pr.hparams()
            obj = objective_for(loss)
            p = global_point(pr)
            rep = certify(pr, obj, p, data, hp, method="structured")
            res = jax.jit(jax.vmap(lambda k: solve(obj, init_params(k, data, scale=0.5), data, hp, optimizer="lbfgs",
                                                   max_steps=cfg.steps, tol=1e-10)))(jax.random.split(jax.random.PRNGKey(1), cfg.seeds))
            best = float(np.min(np.asarray(res.value)))
            row.update({f"{loss}_{k}": v for k, v in _curvature(rep["eigenvalues"], cfg.zero_rtol).items()})
            row.update({f"{loss}_f_star": rep["f_star"], f"{loss}_grad_norm": rep["grad_norm"],
                        f"{loss}_min_eig": rep["min_eig"], f"{loss}_index": rep["index"],
                        f"{loss}_solver_best_minus_f_star": best - rep["f_star"],
                        f"{loss}_classification": rep["classification"]})
        rows.append(row)
        common.write(out, row)
        print(f"d={d} lambda={lam:g}: CE f*={row['ce_f_star']:.6g} |grad| {row['ce_grad_norm']:.1e} min_eig "
              f"{row['ce_min_eig']:.1e} index {row['ce_index']} zeros {row['ce_num_zero']} lambda+ {row['ce_lambda_plus']:.3e} "
              f"lambda_max {row['ce_lambda_max']:.3e} cond {row['ce_condition']:.3g} solver-f* "
              f"{row['ce_solver_best_minus_f_star']:.1e} | MSE lambda+ {row['mse_lambda_plus']:.3e} lambda_max "
              f"{row['mse_lambda_max']:.3g} cond {row['mse_condition']:.3g} index {row['mse_index']}", flush=True)
    plot(out)
    return rows


def plot(out: str) -> None:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = common.read(out)
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
    fig.savefig(os.path.join(out, "ce_spectra.png"), dpi=120)
    plt.close(fig)


def main():
    args = common.parse(__doc__, common.here("out", "ce_spectra"))
    default = common.here("out", "ce_spectra")
    run(TINY if args.tiny else Config(), args.out + ("_tiny" if args.tiny and args.out == default else ""))


if __name__ == "__main__":
    main()
