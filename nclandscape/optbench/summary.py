"""Summary table of a benchmark folder, computed from its files only.

Reads ``config.json`` and the per-optimiser Parquet files; writes ``summary.csv`` and
``summary.md`` (one row per optimiser) and ``seeds.csv`` (the final row of every seed).

Definitions (per seed, then median and quartiles over seeds):
- gap = f − f*, f* from the closed form (``theory.theory_for``) when it applies, else the best
  final value over every optimiser and seed in the folder (``f_star_source = best_found``).
- iterations / seconds to gap ≤ t: ``steps_taken`` / ``time_s`` at the first record with
  gap ≤ t (so they have the resolution of the record points); +inf when never reached, and the
  quartiles count such seeds as +inf (a median of inf means fewer than half got there).
- final metrics: at the last record; a seed reached the global minimum when its final gap is
  finite and ≤ ``success_gap``; it diverged when its final value is not finite.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

from nclandscape.optbench.config import BenchConfig

FINAL_FIELDS = ("gap", "grad_norm", "nc1", "nc2", "nc3", "nc4")


def quantile(x, p: float) -> float:
    """Linear-interpolation quantile that treats +inf as a value (numpy's gives nan there)."""
    x = np.sort(np.asarray(x, float))
    if x.size == 0:
        return math.nan
    h = (x.size - 1) * p
    lo, hi = int(math.floor(h)), int(math.ceil(h))
    if lo == hi or x[lo] == x[hi]:
        return float(x[lo])
    if not math.isfinite(x[hi]):
        return math.inf
    return float(x[lo] + (x[hi] - x[lo]) * (h - lo))


def load_dir(out_dir: str) -> tuple[dict, dict]:
    """``(config_json, {name: (columns, meta)})`` for the optimisers of the folder's config that
    have finished (a missing file means not run yet)."""
    from nclandscape.optbench.run import optimizer_path, read_optimizer_file

    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = json.load(f)
    runs = {}
    for name in cfg["config"]["optimizers"]:
        path = optimizer_path(out_dir, name)
        if os.path.exists(path):
            runs[name] = read_optimizer_file(path)
    return cfg, runs


def per_seed(cols: dict) -> dict:
    """Columns reshaped to ``(records, seeds)`` arrays (rows are record-major, seeds 0..S-1)."""
    S = int(cols["seed"].max()) + 1
    R = cols["seed"].size // S
    return {k: np.asarray(v).reshape(R, S) for k, v in cols.items() if k != "optimizer"}


def resolve_f_star(cfg: dict, runs: dict) -> tuple[float, str]:
    if cfg.get("f_star") is not None:
        return float(cfg["f_star"]), cfg["f_star_source"]
    finals = [per_seed(c)["value"][-1] for c, _ in runs.values()]
    finals = np.concatenate(finals) if finals else np.array([np.nan])
    finals = finals[np.isfinite(finals)]
    return (float(finals.min()) if finals.size else math.nan), "best_found"


def first_reach(gap, values, thr):
    """``values`` at the first record where ``gap <= thr``, per seed; +inf if never."""
    hit = np.isfinite(gap) & (gap <= thr)
    idx = np.argmax(hit, axis=0)
    got = hit.any(axis=0)
    return np.where(got, values[idx, np.arange(gap.shape[1])].astype(float), np.inf)


def summarize(out_dir: str) -> dict:
    cfg, runs = load_dir(out_dir)
    config = BenchConfig.from_json(cfg["config"])
    f_star, source = resolve_f_star(cfg, runs)
    rows, seed_rows = [], []
    for name, (cols, meta) in runs.items():
        a = per_seed(cols)
        gap = a["value"] - f_star
        S = gap.shape[1]
        row = {
            "optimizer": name,
            "lr": meta["lr"],
            "batch_size": meta["batch_size"],
            "seeds": S,
            "steps_run": meta["steps_run"],
        }
        for t in config.thresholds:
            it = first_reach(gap, a["steps_taken"], t)
            sec = first_reach(gap, a["time_s"], t)
            tag = f"{t:.0e}"
            for label, x in (("iters", it), ("secs", sec)):
                for q, p in (("median", 0.5), ("q25", 0.25), ("q75", 0.75)):
                    row[f"{label}_gap_{tag}_{q}"] = quantile(x, p)
            row[f"reached_gap_{tag}"] = int(np.isfinite(it).sum())
        final = {k: (gap[-1] if k == "gap" else a[k][-1]) for k in FINAL_FIELDS}
        for k in FINAL_FIELDS:
            row[f"final_{k}_median"] = quantile(final[k], 0.5)
        row["final_gap_max"] = float(np.max(final["gap"]))
        ok_final = np.isfinite(final["gap"])
        row["frac_global_min"] = float(np.mean(ok_final & (final["gap"] <= config.success_gap)))
        row["diverged"] = int((~np.isfinite(a["value"][-1])).sum())
        row["compile_s"] = meta["compile_s"]
        row["optimizer_time_s"] = meta["optimizer_time_s"]
        rows.append(row)
        for s in range(S):
            seed_rows.append({
                "optimizer": name, "seed": s, "steps_taken": int(a["steps_taken"][-1, s]),
                "value": float(a["value"][-1, s]), "gap": float(gap[-1, s]),
                **{k: float(a[k][-1, s]) for k in ("grad_norm", "nc1", "nc2", "nc3", "nc4", "numerical_rank", "min_cos_margin")},
                "time_s": float(a["time_s"][-1, s]),
            })
    return {"config": cfg, "f_star": f_star, "f_star_source": source, "rows": rows, "seed_rows": seed_rows}


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def _fmt(x, kind):
    if x is None:
        return "—"
    if isinstance(x, float) and not math.isfinite(x):
        return "never" if kind in ("int", "s") else str(x)  # a diverged seed's final metric: inf/nan
    if kind == "int":
        return f"{x:.0f}"
    if kind == "s":
        return f"{x:.3g}"
    return f"{x:.1e}"


def _spread(row, key, kind):
    m, lo, hi = (row[f"{key}_{q}"] for q in ("median", "q25", "q75"))
    if math.isinf(m):
        return "never"
    return f"{_fmt(m, kind)} [{_fmt(lo, kind)}, {_fmt(hi, kind)}]"


def _resolution(cfg: dict) -> str:
    r = cfg.get("records_per_decade")
    return f"every {cfg['record_every']} steps" if r is None else f"{r} per decade of steps, log-spaced"


def markdown(summary: dict) -> str:
    cfg = summary["config"]["config"]
    thr = [f"{t:.0e}" for t in cfg["thresholds"]]
    prob = f"{cfg['loss']} K={cfg['K']} n={cfg['n']} d={cfg['d']} λ_W={cfg['lambda_W']:g} λ_H={cfg['lambda_H']:g} λ_b={cfg['lambda_b']:g} bias={cfg['bias']}"
    dtype = "float64" if cfg["x64"] else "float32"
    lines = [
        f"**{prob}**, {cfg['seeds']} seeds, {cfg['steps']} steps, {dtype}, init scale {cfg['scale']:g}, "
        f"f* = {summary['f_star']:.12g} ({summary['f_star_source']}). Iterations and seconds: median [q25, q75] over "
        f"seeds at the resolution of the records ({_resolution(cfg)}) (\"never\": fewer than half the seeds got there; "
        f"reached = seeds that got there); seconds = wall time of all seeds vmapped together, compile excluded. "
        f"Global min = fraction of seeds with final gap ≤ {cfg['success_gap']:g}.",
        "",
    ]
    head = ["optimizer", "lr", "batch"]
    for t in thr:
        head += [f"iters to gap ≤ {t}", f"s to gap ≤ {t}", "reached"]
    head += ["final gap", "final ‖∇f‖", "NC1", "NC2", "NC3", "global min"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(head)) + "|")
    for r in summary["rows"]:
        cells = [r["optimizer"], "line search" if r["lr"] is None else f"{r['lr']:g}", str(r["batch_size"])]
        for t in thr:
            cells += [_spread(r, f"iters_gap_{t}", "int"), _spread(r, f"secs_gap_{t}", "s"), f"{r[f'reached_gap_{t}']}/{r['seeds']}"]
        cells += [_fmt(r["final_gap_median"], "e"), _fmt(r["final_grad_norm_median"], "e"),
                  _fmt(r["final_nc1_median"], "e"), _fmt(r["final_nc2_median"], "e"), _fmt(r["final_nc3_median"], "e"),
                  f"{r['frac_global_min']:.2f}" + (f" ({r['diverged']} diverged)" if r["diverged"] else "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(out_dir: str) -> dict:
    from nclandscape.optbench.run import _atomic_write_bytes

    s = summarize(out_dir)

    def text(path, content):
        def w(p):
            with open(p, "w") as f:
                f.write(content)

        _atomic_write_bytes(path, w)

    text(os.path.join(out_dir, "summary.csv"), _csv(s["rows"]))
    text(os.path.join(out_dir, "seeds.csv"), _csv(s["seed_rows"]))
    text(os.path.join(out_dir, "summary.md"), markdown(s))
    return s
