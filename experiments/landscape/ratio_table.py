"""Angular vs radial gradient of the feature near its solution, as α and M grow (MSE paper §3.3).

Command:   python -m experiments experiments/landscape/ratio_table.py   (tiny CI variant: --tiny --out DIR)
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

RUNNER = "experiments.landscape.runner:run_ratio_table"
ALPHAS = (1.0, 2.0, 4.0, 8.0)
MS = (1.0, 2.0, 4.0, 8.0)


def get_config(tiny: bool = False) -> dict:
    cfg = {
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
    if tiny:  # three rows: K → ∞ at (1, 1) and (2, 2), and the last CE row
        return {**cfg, "rows": [cfg["rows"][0], cfg["rows"][5], cfg["rows"][-1]], "gd_max_steps": 2000}
    return cfg
