"""The central-path experiments' runner (Han, Papyan & Donoho's MSE decomposition and flows).

Two experiment types, each ``run_*(config, out_dir)`` (named by a config's ``RUNNER``; run with
``python -m experiments experiments/central_path/<name>.py``), in float64, figures drawn from the
files they write:

* :func:`run_ufm_perp` (ufm_perp.py): L⊥/f along UFM gradient descent over a (λ, lr) grid;
  ``config.json``, ``traces.jsonl``, ``table.md``, ``ufm_perp.png``;
* :func:`run_flows` (flows.py): the three central-path flows against their ω-laws;
  ``config.json``, ``<flow>_K<K>.json`` (the JSON of ``nclandscape central-path --json``),
  ``table.md``, ``flows.png`` (the largest K).

The ResNet experiment (resnet_mse.py) is a training config run by ``nclandscape train``; two
read-only analyses of such a run live here too:

    python -m experiments.central_path.runner terms RUN [--figure PNG]   # table + figure of the terms
    python -m experiments.central_path.runner bn-check RUN               # eval- vs train-mode BN
"""
from __future__ import annotations

import argparse
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import float64, read_jsonl, write_config, write_jsonl
from nclandscape import central_path as cp
from nclandscape.central_path.simulate import simulate_flow
from nclandscape.fileio import atomic_savefig
from nclandscape.objectives import mse_objective
from nclandscape.ufm import init_params, make_data, make_hparams


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---- (a) term (B) along UFM gradient descent ------------------------------------------------------

SHOW_STEPS = (0, 10, 100, 1000, 5000, 20000)
F_FLOOR = 1e-12  # below this f is float64 rounding of an interpolating fit: L⊥/f is not reported


def record_steps(steps: int, records: int) -> list[int]:
    log = np.unique(np.round(np.logspace(0, np.log10(steps), records - 1)).astype(int)).tolist()
    return sorted({0, *log, *[s for s in SHOW_STEPS if s <= steps]})


def ufm_traces(cfg: dict) -> list[dict]:
    """Every (λ, lr, seed) GD trajectory's decomposition at the record steps (one vmapped program)."""
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


def ufm_table(rows: list[dict], show=SHOW_STEPS) -> str:
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


def plot_ufm_perp(traces_path: str, out_png: str) -> str:
    plt = _pyplot()
    rows = read_jsonl(traces_path)
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
    atomic_savefig(fig, out_png, dpi=120)
    plt.close(fig)
    return out_png

@float64
def run_ufm_perp(cfg: dict, out_dir: str) -> list[dict]:
    os.makedirs(out_dir, exist_ok=True)
    rows = ufm_traces(cfg)
    write_config(out_dir, {"experiment": "central_path/ufm_perp", "dtype": "float64", "optimizer": "gd", **cfg},
                 indent=2)
    traces = os.path.join(out_dir, "traces.jsonl")
    write_jsonl(traces, ({"K": cfg["K"], "n": cfg["n"], "d": cfg["d"], **r} for r in rows))
    md = ufm_table(rows)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(md)
    print(md)
    print("wrote", traces, "and", plot_ufm_perp(traces, os.path.join(out_dir, "ufm_perp.png")))
    return rows


# ---- (b) the three central-path flows against their exact laws -------------------------------------

def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def simulate_flows(cfg: dict, out_dir: str) -> list[str]:
    """One ``nclandscape central-path --json`` file per flow and problem; returns their paths."""
    paths = []
    for K, n, d in cfg["problems"]:
        for kind in cfg["flows"]:
            r = simulate_flow(kind, K=K, n=n, d=d, points=cfg["points"], seed=cfg["seed"])
            p = os.path.join(out_dir, f"{kind}_K{K}.json")
            with open(p, "w") as f:
                json.dump(r, f)
            paths.append(p)
    return paths


def flows_table(paths) -> str:
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


def plot_flows(paths, out_png) -> str:
    plt = _pyplot()
    rs = []
    for p in paths:
        with open(p) as f:
            rs.append(json.load(f))
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
    atomic_savefig(fig, out_png, dpi=120)
    plt.close(fig)
    return out_png

@float64
def run_flows(cfg: dict, out_dir: str) -> list[str]:
    write_config(out_dir, cfg)
    paths = simulate_flows(cfg, out_dir)
    md = flows_table(paths)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(md)
    print(md)
    print("wrote", plot_flows(paths, os.path.join(out_dir, "flows.png")))
    return paths


# ---- (c) a ResNet MSE run of ``nclandscape train experiments/central_path/resnet_mse.py`` ----------

RESNET_TERMS = ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp")


def read_terms(run_dir: str) -> list[dict]:
    recs = [r for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl")) if r.get("L_perp") is not None]
    if not recs:
        raise ValueError(f"{run_dir}/metrics.jsonl has no decomposition terms (an MSE run records them)")
    return recs


def terms_table(recs: list[dict], k: int = 8) -> str:
    idx = sorted(set(np.linspace(0, len(recs) - 1, k).round().astype(int).tolist()))
    out = ["| epoch | train acc | L_NC1 within | L_NC1 ridge | L_NC2/3 | L⊥ | f | L⊥/f |", "|---|---|---|---|---|---|---|---|"]
    for i in idx:
        r = recs[i]
        out.append(f"| {r['epoch']} | {r['train_acc']:.3f} | {r['L_nc1_within']:.3g} | {r['L_nc1_ridge']:.3g} | "
                   f"{r['L_nc23']:.3g} | {r['L_perp']:.3g} | {r['L_total']:.4g} | {r['L_perp_over_f']:.2e} |")
    return "\n".join(out) + "\n"


def plot_terms(recs: list[dict], out_png: str, title: str) -> str:
    plt = _pyplot()
    ep = np.asarray([r["epoch"] for r in recs])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k, lab in zip(RESNET_TERMS, ("L_NC1 (within)", "L_NC1 (ridge)", "L_NC2/3", "L⊥ (term B)")):
        a.semilogy(ep, np.maximum([r[k] for r in recs], 1e-30), "-o", ms=2.5, label=lab)
    a.semilogy(ep, [r["L_total"] for r in recs], "k--", lw=1, label="f (sum)")
    a.set_xlabel("epoch")
    a.set_ylabel("term of f")
    a.legend(fontsize=8)
    b.semilogy(ep, [r["L_perp_over_f"] for r in recs], "-o", ms=2.5, color="C3")
    b.set_xlabel("epoch")
    b.set_ylabel("L⊥ / f")
    b.grid(True, which="major", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=120)
    plt.close(fig)
    return out_png

def resnet_terms(run_dir: str, figure: str | None = None) -> str:
    """Markdown table (printed) and figure (default RUN/central_path_terms.png) of the
    decomposition along a ResNet MSE run, from RUN/metrics.jsonl and RUN/config.json."""
    recs = read_terms(run_dir)
    with open(os.path.join(run_dir, "config.json")) as f:
        cfg = json.load(f)
    n = cfg.get("train_per_class")
    title = (f"ResNet18 (width {cfg['width']}) MSE on CIFAR-10 ({'all' if n is None else n * 10} train images), "
             f"weight decay {cfg['weight_decay']:g}: decomposition on the full train features")
    print(terms_table(recs))
    return plot_terms(recs, figure or os.path.join(run_dir, "central_path_terms.png"), title)


def bn_check(run_dir: str) -> dict:
    """L⊥/f of a finished ResNet MSE run on eval-mode vs train-mode features.

    ``metrics.jsonl`` decomposes the *eval-mode* features (batch norm with running statistics),
    but the classifier was trained on *train-mode* features (batch statistics of each
    mini-batch). This decomposes both at the last checkpoint with the same (W, b): train-mode
    features are computed batch by batch with the run's batch size in the training order of the
    last epoch, without augmentation. If L⊥/f is much smaller on the train-mode features, the
    eval-mode L⊥ measures the batch-norm mismatch rather than a classifier lagging behind its
    features. Prints a Markdown table and writes ``RUN/bn_check.json``."""
    from nclandscape.central_path.networks import network_terms
    from nclandscape.nets.data import load_dataset, preprocess
    from nclandscape.nets.resnet import classifier_weights
    from nclandscape.nets.runner import load_run

    cfg, model, state, meta = load_run(run_dir)
    ds = load_dataset(cfg)
    x_all = jnp.asarray(ds.x_train)
    y = np.asarray(ds.y_train)
    N, B = len(y), cfg.batch_size
    W, b = classifier_weights(model, state.params)
    lam_W = 0.0 if model.fixed_etf else cfg.weight_decay
    variables = {"params": state.params, "batch_stats": state.batch_stats}

    @functools.partial(jax.jit, static_argnums=1)
    def feats(idx, train):
        x = preprocess(x_all[idx], None, mean=ds.mean, std=ds.std, augment=False)
        if train:
            (_, h), _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
        else:
            _, h = model.apply(variables, x, train=False)
        return h

    out = {}
    perm = np.random.default_rng([cfg.seed, meta["epoch"] - 1]).permutation(N)
    for mode in ("eval", "train"):
        order = perm[: (N // B) * B]
        hs = [feats(jnp.asarray(order[i:i + B]), mode == "train") for i in range(0, len(order), B)]
        out[mode] = network_terms(W, b, np.concatenate(hs), y[order], ds.num_classes, lam_W=lam_W,
                                  lam_b=cfg.weight_decay)
    print("| features | L_NC1 within | L_NC1 ridge | L_NC2/3 | L⊥ | f | L⊥/f |\n|---|---|---|---|---|---|---|")
    for mode, r in out.items():
        print(f"| {mode}-mode BN | {r['L_nc1_within']:.3g} | {r['L_nc1_ridge']:.3g} | {r['L_nc23']:.3g} | "
              f"{r['L_perp']:.3g} | {r['L_total']:.4g} | {r['L_perp_over_f']:.2e} |")
    with open(os.path.join(run_dir, "bn_check.json"), "w") as f:
        json.dump({"epoch": meta["epoch"], **out}, f, indent=2)
    return out

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.central_path.runner",
                                 description="Analyses of a finished ResNet MSE run (resnet_mse.py).")
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("terms", help="table and figure of the decomposition terms along the run")
    t.add_argument("run", help="run folder with metrics.jsonl and config.json")
    t.add_argument("--figure", default=None, help="figure path (default RUN/central_path_terms.png)")
    b = sub.add_parser("bn-check", help="L⊥/f on eval-mode vs train-mode batch-norm features")
    b.add_argument("run", help="run folder with its checkpoint")
    args = ap.parse_args(argv)
    try:
        if args.what == "terms":
            print("wrote", resnet_terms(args.run, args.figure))
        else:
            bn_check(args.run)
    except (OSError, ValueError) as e:
        ap.error(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
