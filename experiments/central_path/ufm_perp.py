"""(a) Is term (B) negligible? L⊥/f along UFM gradient-descent trajectories over a (λ, lr) grid.

Command:   nice -n 19 python -m experiments.central_path.ufm_perp   (tiny CI variant: --tiny --out DIR)
Run time:  ~1-2 min on a shared 2-core CPU (float64; 4 λ x 4 lr x 4 seeds, 20,000 GD steps, vmapped).
Output:    experiments/central_path/results/ufm_perp/{config.json, traces.jsonl, table.md} and
           experiments/central_path/figures/ufm_perp.png (drawn from traces.jsonl).

Plain full-batch GD on vanilla MSE (K, n, d) = (4, 5, 6) with λ_W = λ_H = λ_b = λ, from
``init_params`` (N(0, 1) entries), recording at log-spaced steps the five terms of
``nclandscape.central_path.decomposition``. Each record is the median over seeds of L⊥/f and of f.
Expected: L⊥/f starts near ½ (a random classifier is far from least-squares), falls by orders of
magnitude as the classifier catches up with the features, and at λ > 0 goes to 0 at the global
minimiser (every critical point is on the central path). It is not negligible early in training and
when the step is too small for the classifier to track the features.
"""
from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = dict(K=4, n=5, d=6, lambdas=[0.0, 1e-4, 1e-3, 1e-2], lrs=[0.05, 0.1, 0.25, 0.5], seeds=4, steps=20000,
               records=41)
TINY = dict(K=3, n=2, d=3, lambdas=[0.0, 1e-2], lrs=[0.1, 0.5], seeds=2, steps=200, records=6)


SHOW_STEPS = (0, 10, 100, 1000, 5000, 20000)
F_FLOOR = 1e-12  # below this f is float64 rounding of an interpolating fit: L⊥/f is not reported


def record_steps(steps: int, records: int) -> list[int]:
    log = np.unique(np.round(np.logspace(0, np.log10(steps), records - 1)).astype(int)).tolist()
    return sorted({0, *log, *[s for s in SHOW_STEPS if s <= steps]})


def run(cfg: dict) -> list[dict]:
    from nclandscape import central_path as cp
    from nclandscape.objectives import mse_objective
    from nclandscape.ufm import init_params, make_data, make_hparams

    data = make_data(cfg["K"], cfg["n"], cfg["d"])
    steps = record_steps(cfg["steps"], cfg["records"])
    lengths = np.diff(steps)

    def terms(p, hp):
        return cp.decomposition(p.W, p.H, p.b, data.Y, hp), mse_objective(p, data, hp)

    grad = jax.grad(mse_objective)

    def advance(p, hp, lr, length):
        def body(_, q):
            g = grad(q, data, hp)
            return jax.tree_util.tree_map(lambda x, y: x - lr * y, q, g)

        return jax.lax.fori_loop(0, length, body, p)

    # One program for every (λ, lr, seed) point: vmap over a flat batch, a traced chunk length.
    adv = jax.jit(jax.vmap(advance, in_axes=(0, 0, 0, None)))
    dec = jax.jit(jax.vmap(terms))
    grid = [(lam, lr, s) for lam in cfg["lambdas"] for lr in cfg["lrs"] for s in range(cfg["seeds"])]
    hp = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[make_hparams(lam, lam, lam) for lam, _, _ in grid])
    lrs = jnp.asarray([lr for _, lr, _ in grid])
    p = jax.vmap(lambda k: init_params(k, data))(jax.vmap(jax.random.PRNGKey)(jnp.asarray([s for _, _, s in grid])))
    rows = []
    for i, step in enumerate(steps):
        if i:
            p = adv(p, hp, lrs, int(lengths[i - 1]))
        t, fs = jax.device_get(dec(p, hp))
        for j, (lam, lr, s) in enumerate(grid):
            vals = {cp.JSON_KEYS[k]: float(np.asarray(getattr(t, k))[j]) for k in cp.TERMS}
            f = float(fs[j])
            rows.append({"lambda": lam, "lr": lr, "seed": s, "step": int(step), "f": f,
                         "identity_rel_err": abs(sum(vals.values()) - f) / f if f > 0 else float("nan"),
                         "perp_over_f": vals["L_perp"] / f if np.isfinite(f) and f > F_FLOOR else float("nan"),
                         **vals})
    return rows


def medians(rows: list[dict]) -> dict:
    """{(λ, lr): {step: (median L⊥/f, median f)}} over seeds."""
    out: dict = {}
    for r in rows:
        out.setdefault((r["lambda"], r["lr"]), {}).setdefault(r["step"], []).append((r["perp_over_f"], r["f"]))
    return {k: {s: tuple(np.median(np.asarray(v), axis=0)) for s, v in d.items()} for k, d in out.items()}


def table(rows: list[dict], show=SHOW_STEPS) -> str:
    med = medians(rows)
    steps = sorted({r["step"] for r in rows})
    show = [s for s in show if s in steps]
    show += [steps[-1]] if steps[-1] not in show else []
    head = "| λ | lr | " + " | ".join(f"L⊥/f @ {s}" for s in show) + " | f @ end |\n"
    head += "|---|---|" + "---|" * len(show) + "---|\n"
    lines = []
    for (lam, lr), d in sorted(med.items()):
        lines.append(f"| {lam:g} | {lr:g} | " + " | ".join(f"{d[s][0]:.2g}" for s in show) + f" | {d[steps[-1]][1]:.6g} |")
    big = [r["identity_rel_err"] for r in rows if r["f"] > 1e-6]
    small = [abs(r["identity_rel_err"] * r["f"]) for r in rows if 0 < r["f"] <= 1e-6]
    return (head + "\n".join(lines) + f"\n\nnan: f < {F_FLOOR:g} (an exact fit at λ = 0; the ratio is rounding). "
            f"Identity check over all {len(rows)} records: |Σ terms − f| / f ≤ {max(big):.1e} where f > 1e-6"
            + (f", |Σ terms − f| ≤ {max(small):.1e} where f ≤ 1e-6" if small else "") + ".\n")


def plot(traces_path: str, out_png: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(traces_path) as f:
        rows = [json.loads(x) for x in f]
    med = medians(rows)
    lams = sorted({k[0] for k in med})
    fig, axes = plt.subplots(1, len(lams), figsize=(4 * len(lams), 3.6), sharey=True)
    for ax, lam in zip(np.atleast_1d(axes), lams):
        for (l2, lr), d in sorted(med.items()):
            if l2 != lam:
                continue
            s = np.asarray(sorted(d))
            v = np.asarray([d[x][0] for x in s])
            ax.loglog(np.maximum(s, 1), np.maximum(v, 1e-17), "-o", ms=2.5, label=f"lr {lr:g}")
        ax.set_title(f"λ_W = λ_H = λ_b = {lam:g}")
        ax.set_xlabel("GD step (step 0 drawn at 1)")
        ax.grid(True, which="major", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("L⊥ / f (median over seeds)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"Term (B) along UFM gradient descent, (K, n, d) = ({rows[0]['K']}, {rows[0]['n']}, {rows[0]['d']})")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the CI variant (seconds)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ufm_perp"))
    ap.add_argument("--from-traces", action="store_true", help="redraw table and figure from OUT/traces.jsonl")
    ap.add_argument("--figure", default=None, help="figure path (default: figures/ufm_perp.png, or OUT/ufm_perp.png with --tiny)")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    cfg = TINY if args.tiny else DEFAULT
    os.makedirs(args.out, exist_ok=True)
    traces = os.path.join(args.out, "traces.jsonl")
    if args.from_traces:
        with open(traces) as f:
            rows = [json.loads(x) for x in f]
    else:
        rows = run(cfg)
        with open(os.path.join(args.out, "config.json"), "w") as f:
            json.dump({"experiment": "central_path/ufm_perp", "dtype": "float64", "optimizer": "gd", **cfg}, f, indent=2)
        with open(traces, "w") as f:
            f.writelines(json.dumps({"K": cfg["K"], "n": cfg["n"], "d": cfg["d"], **r}) + "\n" for r in rows)
    md = table(rows)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(md)
    fig = args.figure or (os.path.join(args.out, "ufm_perp.png") if args.tiny else os.path.join(HERE, "figures", "ufm_perp.png"))
    os.makedirs(os.path.dirname(fig), exist_ok=True)
    print(md)
    print("wrote", traces, "and", plot(traces, fig))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
