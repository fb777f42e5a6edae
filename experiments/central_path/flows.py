"""(b) The three central-path flows against their exact ω-laws, and NC1–NC3 against the closed forms in ω.

Command:   nice -n 19 python -m experiments.central_path.flows   (tiny CI variant: --tiny --out DIR)
Run time:  ~2-3 min on a shared 2-core CPU (float64, 6 integrations of the full features).
Output:    experiments/central_path/results/flows/{<flow>_K<K>.json, table.md} (the JSON of
           ``nclandscape central-path --json``) and experiments/central_path/figures/flows.png,
           drawn from those files.

Each flow (projected, renormalized, plain; docs/central_path.md) is integrated on the UFM with
λ = 0 from a seeded whitened start by ``nclandscape.central_path.simulate_flow`` (adaptive
Dormand–Prince, rtol = atol = 1e-12), over the default time range (ω grows ≥ 3×), for
(K, n, d) = (4, 5, 6) and (10, 5, 12). Expected: every flow follows its own law to ~1e-10;
NC1–NC3 of the projected and renormalized flows equal the closed forms in ω to ~1e-9; the plain
flow does not equalise the ω_j (NC2 stalls) while the other two do.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROBLEMS = [(4, 5, 6), (10, 5, 12)]
TINY_PROBLEMS = [(3, 3, 2)]
FLOWS = ("projected", "renormalized", "plain")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def run(problems, out_dir, points):
    from nclandscape.central_path.simulate import simulate_flow

    paths = []
    for K, n, d in problems:
        for kind in FLOWS:
            r = simulate_flow(kind, K=K, n=n, d=d, points=points, seed=0)
            p = os.path.join(out_dir, f"{kind}_K{K}.json")
            with open(p, "w") as f:
                json.dump(r, f)
            paths.append(p)
    return paths


def table(paths) -> str:
    out = ["| flow | (K, n, d) | t_max | ω(0) → ω(T) (min, max) | growth (min) | max rel. err ω | NC1 / NC2 / NC3 closed-form rel. err | NC2 at T |",
           "|---|---|---|---|---|---|---|---|"]
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        om = np.asarray(r["omega"])
        nc = "n/a (no closed form off the whitened manifold)"
        if "nc1_law" in r:
            nc = " / ".join(f"{rel(r[k], r[k + '_law']):.1e}" for k in ("nc1", "nc2", "nc3"))
        out.append(f"| {r['flow']} | ({r['K']}, {r['n']}, {r['d']}) | {r['t_max']:g} | "
                   f"({om[0].min():.3g}, {om[0].max():.3g}) → ({om[-1].min():.3g}, {om[-1].max():.3g}) | "
                   f"{np.min(om[-1] / om[0]):.1f}x | {r['max_rel_err']:.1e} | {nc} | {r['nc2'][-1]:.2e} |")
    return "\n".join(out) + "\n"


def plot(paths, out_png) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = [json.load(open(p)) for p in paths]
    Ks = sorted({r["K"] for r in rs})
    K = Ks[-1]
    rs = [r for r in rs if r["K"] == K]
    fig, axes = plt.subplots(2, len(rs), figsize=(4.6 * len(rs), 7.5), squeeze=False)
    for c, r in enumerate(rs):
        t, om, law = np.asarray(r["t"]), np.asarray(r["omega"]), np.asarray(r["omega_law"])
        ax = axes[0, c]
        for j in range(om.shape[1]):
            line, = ax.plot(t, law[:, j], lw=1)
            ax.plot(t[::2], om[::2, j], "o", ms=3, color=line.get_color())
        ax.set_title(f"{r['flow']}: ω_j(t), law (lines) vs simulated (dots)\nmax rel. err {r['max_rel_err']:.1e}",
                     fontsize=9)
        ax.set_xlabel("t")
        ax = axes[1, c]
        for k, mk in (("nc1", "o"), ("nc2", "s"), ("nc3", "^")):
            pts = ax.semilogy(t[::2], r[k][::2], mk, ms=3, label=f"{k.upper()} measured")
            if k + "_law" in r:
                ax.semilogy(t, r[k + "_law"], "-", lw=1, color=pts[0].get_color(), label=f"{k.upper()} closed form in ω")
        ax.set_xlabel("t")
        ax.set_title("NC metrics (whitened-manifold closed forms)" if "nc1_law" in r else
                     "NC metrics (plain flow: no closed form)", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Central-path flows, (K, n, d) = ({rs[0]['K']}, {rs[0]['n']}, {rs[0]['d']}), λ = 0, whitened seeded start")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the CI variant (seconds)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "flows"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    paths = run(TINY_PROBLEMS if args.tiny else PROBLEMS, args.out, 8 if args.tiny else 40)
    md = table(paths)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(md)
    fig = os.path.join(args.out, "flows.png") if args.tiny else os.path.join(HERE, "figures", "flows.png")
    os.makedirs(os.path.dirname(fig), exist_ok=True)
    print(md)
    print("wrote", plot(paths, fig))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
