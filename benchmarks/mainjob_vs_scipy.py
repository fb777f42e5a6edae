"""The main job (experiments/sweeps/default.toml) with the engine against the loop a user writes
instead: SciPy L-BFGS-B, one configuration at a time, NumPy objective and analytic gradient,
float64, on the same problems from the same starting points.

    python benchmarks/mainjob_vs_scipy.py [--scipy-subset 60] [--lbfgs-subset 338] [--json]

Reported, all in one run on this machine:
- engine, ``newton`` (the spec as shipped): wall time including compilation, rows within 1e-8
  relative of the closed-form f*;
- engine, ``newton``, programs already compiled: the same sweep again in the same process (a
  second sweep of these shapes, as in a notebook; the compiled programs are reused), i.e. the
  solver's own time;
- engine, ``newton`` with refill off (as many lanes as configurations: every lane runs one
  configuration and the chunk lasts as long as its slowest);
- engine, ``lbfgs`` (5,000 steps) on a random subset, scaled to the whole grid;
- SciPy L-BFGS-B on a random subset (gtol 1e-12, ftol 1e-16, 20,000 iterations), scaled to the
  whole grid: the time until every configuration of the subset is within 1e-8 of f*.
The speed-up is SciPy's (scaled) time over the engine's, at equal accuracy (every row within 1e-8).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "sweeps" / "default.toml"
REL = 1e-8


def engine_run(spec, out, **kw):
    from nclandscape.sweep import read_results, run_sweep

    t0 = time.perf_counter()
    s = run_sweep(spec, out, progress=False, **kw)
    wall = time.perf_counter() - t0
    t = read_results(out).to_pydict()
    rel = [abs(g) / abs(f) for g, f in zip(t["gap"], t["f_star"]) if g is not None]
    within = sum(r <= REL for r in rel) + 0
    return {"wall_s": wall, "rows": s.total, "within_1e-8": within, "ok": s.counts.get("ok", 0),
            "sum_steps": s.sum_steps, "slot_steps": s.slot_steps}


def scipy_solve(c):
    """One configuration with SciPy L-BFGS-B from the engine's starting point."""
    import jax
    import numpy as np
    from scipy.optimize import minimize

    from nclandscape.ufm import Problem, init_params

    pr = Problem(K=c["K"], n=c["n"], d=c["d"], lambda_W=c["lambda_W"], lambda_H=c["lambda_H"],
                 lambda_b=c["lambda_b"])
    data = pr.data()
    p0 = init_params(jax.random.PRNGKey(c["seed"]), data, scale=c["scale"])
    K, d, N = pr.K, pr.d, pr.N
    Y = np.asarray(data.Y)
    lw, lh, lb = pr.lambda_W, pr.lambda_H, pr.lambda_b
    x0 = np.concatenate([np.asarray(p0.W).ravel(), np.asarray(p0.H).ravel(), np.asarray(p0.b)])

    def fg(x):
        W = x[: K * d].reshape(K, d)
        H = x[K * d : K * d + d * N].reshape(d, N)
        b = x[K * d + d * N :]
        R = W @ H + b[:, None] - Y
        f = 0.5 * np.sum(R * R) / N + 0.5 * (lw * np.sum(W * W) + lh * np.sum(H * H) + lb * np.sum(b * b))
        gW = R @ H.T / N + lw * W
        gH = W.T @ R / N + lh * H
        gb = R.sum(axis=1) / N + lb * b
        return f, np.concatenate([gW.ravel(), gH.ravel(), gb])

    t0 = time.perf_counter()
    r = minimize(fg, x0, jac=True, method="L-BFGS-B",
                 options={"maxiter": 20000, "maxfun": 40000, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 10})
    return time.perf_counter() - t0, float(r.fun), int(r.nit)


def scipy_loop(configs, total: int) -> dict:
    import numpy as np

    from nclandscape.theory import mse_global_min

    times, within, iters = [], 0, []
    for c in configs:
        t, f, nit = scipy_solve(c)
        fs = mse_global_min(c["K"], c["n"], c["d"], c["lambda_W"], c["lambda_H"], c["lambda_b"]).f_star
        times.append(t)
        iters.append(nit)
        within += abs(f - fs) <= REL * abs(fs)
    return {"configurations": len(configs), "wall_s": float(sum(times)),
            "scaled_wall_s": float(sum(times)) * total / len(configs), "within_1e-8": int(within),
            "median_iterations": float(np.median(iters)),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}


def _scipy_only(seed: int, n_lbfgs: int, n: int) -> int:
    """The SciPy loop alone, in this process's BLAS setting (NumPy/SciPy load before nclandscape)."""
    import numpy as np
    import scipy.optimize  # noqa: F401  (loads OpenBLAS with the environment's thread count)

    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    import jax

    jax.config.update("jax_enable_x64", True)
    from nclandscape.sweep import SweepSpec
    from nclandscape.sweep.plan import resolve_config

    configs = [resolve_config(c, np.float64) for c in SweepSpec.from_toml(SPEC).configs()]
    rng = np.random.default_rng(seed)  # the same draws as the main process: lbfgs subset, then SciPy's
    rng.choice(len(configs), size=min(n_lbfgs, len(configs)), replace=False)
    sub = rng.choice(len(configs), size=min(n, len(configs)), replace=False)
    out = scipy_loop([configs[int(i)] for i in sub], len(configs))
    out["blas_threads"] = blas
    print(json.dumps(out))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scipy-subset", type=int, default=60, help="configurations the SciPy loop runs (scaled up)")
    ap.add_argument("--lbfgs-subset", type=int, default=338, help="configurations the engine's lbfgs runs (scaled up)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random subsets")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--scipy-only", nargs=3, type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.scipy_only:
        return _scipy_only(*args.scipy_only)

    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from nclandscape.sweep import SweepSpec
    from nclandscape.sweep.plan import resolve_config
    from nclandscape.theory import mse_global_min

    spec = SweepSpec.from_toml(SPEC)
    configs = [resolve_config(c, np.float64) for c in spec.configs()]
    rng = np.random.default_rng(args.seed)
    out = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} cores", "jax": jax.__version__, "configurations": len(configs)}
    with tempfile.TemporaryDirectory() as tmp:
        out["engine_newton"] = engine_run(spec, Path(tmp) / "newton")
        out["engine_newton_compiled"] = engine_run(spec, Path(tmp) / "newton_again")
        d = spec.to_dict()
        out["engine_newton_no_refill"] = engine_run(SweepSpec(d["fixed"], d["grid"], d["zip"], dict(d["sweep"], slots=len(configs))),
                                                    Path(tmp) / "norefill")
        sub = sorted(rng.choice(len(configs), size=min(args.lbfgs_subset, len(configs)), replace=False).tolist())
        keys = {k: [configs[i][k] for i in sub] for k in ("lambda_W", "lambda_H", "d")}
        lb = SweepSpec(dict(d["fixed"], optimizer="lbfgs", steps_max=5000), None,
                       [keys], dict(d["sweep"], plots=[]))
        r = engine_run(lb, Path(tmp) / "lbfgs")
        r["scaled_wall_s"] = r["wall_s"] * len(configs) / len(sub)
        out["engine_lbfgs_subset"] = r
    sub = rng.choice(len(configs), size=min(args.scipy_subset, len(configs)), replace=False)
    out["scipy_lbfgsb_subset"] = scipy_loop([configs[int(i)] for i in sub], len(configs))
    # The same loop as a user runs it, in a fresh process with NumPy's default BLAS threads
    # (importing nclandscape sets OPENBLAS_NUM_THREADS=1 in this one).
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    r = subprocess.run([sys.executable, __file__, "--scipy-only", str(args.seed), str(args.lbfgs_subset),
                        str(args.scipy_subset)],
                       env=env, capture_output=True, text=True, check=True)
    out["scipy_lbfgsb_subset_default_blas_threads"] = json.loads(r.stdout.strip().splitlines()[-1])
    e, s = out["engine_newton"], out["scipy_lbfgsb_subset"]
    out["speedup_engine_vs_scipy"] = s["scaled_wall_s"] / e["wall_s"]
    out["speedup_engine_compiled_vs_scipy"] = s["scaled_wall_s"] / out["engine_newton_compiled"]["wall_s"]
    out["speedup_engine_vs_scipy_default_blas_threads"] = (
        out["scipy_lbfgsb_subset_default_blas_threads"]["scaled_wall_s"] / e["wall_s"])
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"main job: {len(configs)} configurations, float64, {out['machine']}, jax {out['jax']}")
    for name, how in (("engine_newton", "compile included"), ("engine_newton_compiled", "already compiled"),
                      ("engine_newton_no_refill", "compile included")):
        r = out[name]
        print(f"  {name:28s} {r['wall_s']:8.1f} s  ({how})  within 1e-8 of f*: {r['within_1e-8']}/{r['rows']}"
              f"  steps used/paid {r['sum_steps']}/{r['slot_steps']} (x{r['slot_steps'] / max(r['sum_steps'], 1):.2f})")
    r = out["engine_lbfgs_subset"]
    print(f"  {'engine_lbfgs (subset)':28s} {r['wall_s']:8.1f} s on {r['rows']} -> {r['scaled_wall_s']:.1f} s scaled; "
          f"within 1e-8: {r['within_1e-8']}/{r['rows']}  steps used/paid {r['sum_steps']}/{r['slot_steps']}")
    print(f"  {'scipy L-BFGS-B loop (subset)':28s} {s['wall_s']:8.1f} s on {s['configurations']} -> {s['scaled_wall_s']:.1f} s "
          f"scaled (a random subset, scaled to all {len(configs)}); within 1e-8: {s['within_1e-8']}/{s['configurations']}, "
          f"median {s['median_iterations']:.0f} iterations")
    d = out["scipy_lbfgsb_subset_default_blas_threads"]
    print(f"  {'same, default BLAS threads':28s} {d['wall_s']:8.1f} s on {d['configurations']} -> {d['scaled_wall_s']:.1f} s "
          f"scaled; within 1e-8: {d['within_1e-8']}/{d['configurations']}")
    print(f"  speed-up, engine newton vs SciPy loop: {out['speedup_engine_vs_scipy']:.1f}x (one BLAS thread), "
          f"{out['speedup_engine_vs_scipy_default_blas_threads']:.1f}x (default BLAS threads); "
          f"already compiled: {out['speedup_engine_compiled_vs_scipy']:.1f}x (one BLAS thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
