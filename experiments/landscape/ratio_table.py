"""Angular vs radial gradient of the feature near its solution, as α and M grow (MSE paper §3.3).

Command:   .venv/bin/python -m experiments.landscape.ratio_table   (tiny CI variant: --tiny --out DIR)
Run time:  ~15 s CPU on 2 cores (float64; up to ~40 s wall on a busy machine).
Output:    experiments/landscape/results/ratio_table/{config.json, table.jsonl, table.md}

For each (loss, K, α, M, λ_H), with W a unit simplex ETF and b = 0 (THEORY.md §7), everything from the
real per-sample objective by autodiff:

* ``s*``: the minimiser along θ = 0 (``polar_minimizer_on_ray``);
* radial probe ``|∂f/∂s|`` at ``(1.1 s*, 0)`` and angular probe ``|∂f/∂θ|`` at ``(s*, 0.1 rad)``: the
  same 10 % relative displacement in each polar coordinate;
* ``ratio_rad = |∂f/∂θ| / |∂f/∂s|`` (θ measured in radians, the paper's eq. 34 convention) and
  ``ratio_euc = (|∂f/∂θ| / s*) / |∂f/∂s|`` (both components of the Euclidean gradient w.r.t. h, the
  vector gradient descent actually follows; the two probes are the same Euclidean distance 0.1 s*
  from the solution);
* ``kappa_r``, ``kappa_t``: the Hessian of the objective w.r.t. h at the solution, along w^k and
  across it (in the plane);
* ``gd_steps``: gradient descent on h with a fixed step 0.1 from (s*, 1 rad) until |θ| < 1e-3.

Expected (exact for MSE without weight decay): ``f_{α,M}(h) = M² f_{α,1}(h/M)`` (M only dilates),
so ``ratio_rad ≈ M/α·(…)`` grows with M while ``ratio_euc`` and ``gd_steps`` do not depend on M;
``kappa_t = K/(K − 1)`` for every α, M and ``kappa_r = α + 1/(K − 1)``, so α steepens the radial
direction only.
"""
from __future__ import annotations

import json
import math
import os
import time
from functools import partial

from experiments.landscape.runner import cli, default_out  # sets x64

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from nclandscape.landscape import feature_loss, plane_for, polar_minimizer_on_ray, polar_value_and_grad  # noqa: E402
from nclandscape.ufm import make_hparams  # noqa: E402

ALPHAS = (1.0, 2.0, 4.0, 8.0)
MS = (1.0, 2.0, 4.0, 8.0)
CONFIG = {
    "name": "ratio_table",
    "rows": [{"loss": "rescaled_mse", "K": K, "alpha": a, "M": m, "lambda_H": 0.0}
             for K in ("inf", 10) for a in ALPHAS for m in MS]
    + [{"loss": "ce", "K": 10, "alpha": 1.0, "M": 1.0, "lambda_H": lam} for lam in (0.1, 0.05, 0.01)],
    "probe_rel": 0.1,
    "gd_lr": 0.1,
    "gd_theta0": 1.0,
    "gd_tol": 1e-3,
    "gd_max_steps": 100000,
}
TINY = {**CONFIG, "rows": [CONFIG["rows"][0], CONFIG["rows"][5], CONFIG["rows"][-1]], "gd_max_steps": 2000}


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
    K = math.inf if str(row["K"]) == "inf" else int(row["K"])
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


def markdown(rows) -> str:
    head = ("| loss | K | α | M | λ_H | s* | \\|∂f/∂s\\| (1.1 s*, 0) | \\|∂f/∂θ\\| (s*, 0.1) | ratio per radian | "
            "ratio Euclidean | κ_r | κ_t | GD steps (η=0.1) |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['loss']} | {r['K']} | {r['alpha']:g} | {r['M']:g} | {r['lambda_H']:g} | {r['s_star']:.4g} | "
            f"{r['grad_s']:.4g} | {r['grad_theta']:.4g} | {r['ratio_rad']:.4g} | {r['ratio_euc']:.4g} | "
            f"{r['kappa_r']:.4g} | {r['kappa_t']:.4g} | {r['gd_steps']} |")
    return "\n".join(lines) + "\n"


def run(cfg: dict, out_dir: str):
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    rows = [measure(r, cfg) for r in cfg["rows"]]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(out_dir, "table.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    md = markdown(rows)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"{len(rows)} rows in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    return rows


def main(argv=None):
    args = cli(__doc__, "ratio_table").parse_args(argv)
    return run(TINY if args.tiny else CONFIG, args.out or default_out("ratio_table"))


if __name__ == "__main__":
    main()
