"""Figures of training runs, read from files only (``config.json`` + ``metrics.jsonl``).

Layout follows the MSE paper's Figs. 3-6: top row NC1 (log scale), NC2, NC3, NC4 against
epoch; bottom row train accuracy, test accuracy, numerical rank, and the cosine-margin
distribution of the train features at the last recorded epoch. Several runs are overlaid, one
colour per run, labelled by ``label`` or else by the config fields in which they differ.
"""
from __future__ import annotations

import json
from pathlib import Path

from nclandscape.fileio import atomic_savefig

KIND = "resnet_train"


def _is_run(p: Path) -> bool:
    try:
        cfg = json.loads((p / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and cfg.get("kind") == KIND and (p / "metrics.jsonl").is_file()


def expand_runs(path) -> list[Path]:
    """``[path]`` for a run folder; its run sub-folders (sorted) for the output folder of a
    config with variants (``DIR/<variant>/``); ``[]`` otherwise."""
    p = Path(path)
    if _is_run(p):
        return [p]
    if p.is_dir():
        return sorted(c for c in p.iterdir() if c.is_dir() and _is_run(c))
    return []


def is_training_run(path) -> bool:
    """True for a folder written by ``nclandscape train``: a run (config.json of kind
    resnet_train plus metrics.jsonl) or a folder of runs (a config with variants)."""
    return bool(expand_runs(path))


def read_run(path) -> tuple[dict, list[dict]]:
    from nclandscape.errors import ConfigError

    p = Path(path)
    if not _is_run(p):
        raise ConfigError(f"{str(p)!r} is not a training run folder (needs config.json written "
                          "by 'nclandscape train' and metrics.jsonl)")
    cfg = json.loads((p / "config.json").read_text())
    recs = [json.loads(l) for l in (p / "metrics.jsonl").read_text().splitlines() if l.strip()]
    return cfg, recs


def _labels(paths, cfgs) -> list[str]:
    skip = {"label", "progress", "checkpoint_every_steps", "kind"}
    keys = sorted(k for k in set().union(*cfgs) if k not in skip
                  and len({json.dumps(c.get(k)) for c in cfgs}) > 1)
    out = []
    for p, c in zip(paths, cfgs):
        if c.get("label"):
            out.append(str(c["label"]))
        elif keys:
            out.append(", ".join(f"{k}={c.get(k)}" for k in keys))
        else:
            out.append(Path(p).name)
    return out


def plot_run(run_dirs, out=None) -> list[Path]:
    """Draw the NC figure of ``run_dirs`` overlaid; writes ``<out>.png`` and ``<out>.pdf``.

    A folder of runs (``DIR`` of a config with variants) stands for all its runs. ``out`` may
    be a file stem (a ``.png``/``.pdf`` suffix is dropped), an existing folder
    (``<folder>/nc_curves``) or None (``<first given folder>/nc_curves``). Returns the paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    given = [Path(p) for p in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    paths = [r for p in given for r in (expand_runs(p) or [p])]
    if not paths:
        from nclandscape.errors import ConfigError

        raise ConfigError("plot_run: no run folders given")
    runs = [read_run(p) for p in paths]
    labels = _labels(paths, [c for c, _ in runs])
    if out is None:
        stem = given[0] / "nc_curves"
    else:
        stem = Path(out)
        if stem.is_dir():
            stem = stem / "nc_curves"
        elif stem.suffix.lower() in (".png", ".pdf"):
            stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)

    panels = [("nc1", r"$\mathcal{NC}_1$", True), ("nc2", r"$\mathcal{NC}_2$", False),
              ("nc3", r"$\mathcal{NC}_3$", False), ("nc4", r"$\mathcal{NC}_4$", False),
              ("train_acc", "training accuracy", False), ("test_acc", "test accuracy", False),
              ("numerical_rank", "numerical rank", False)]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, ((cfg, recs), label) in enumerate(zip(runs, labels)):
        c = colors[i % len(colors)]
        ep = [r["epoch"] for r in recs]
        for ax, (key, title, log) in zip(axes.flat, panels):
            vals = [r.get(key) for r in recs]
            if key == "nc1" and log:
                vals = [max(v, 1e-12) if v is not None else None for v in vals]
            ax.plot(ep, vals, "-o", color=c, ms=3, lw=1.5, label=label)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if log:
                ax.set_yscale("log")
        if recs and "cos_margin_quantiles" in recs[-1]:
            q = recs[-1]["cos_margin_quantiles"]
            frac = [j / (len(q) - 1) for j in range(len(q))]
            axes.flat[7].plot(frac, q, "-", color=c, lw=1.5, label=label)
    ax = axes.flat[7]
    ax.axhline(0.0, color="gray", lw=0.8, ls=":")
    ax.set_title("cosine margin (sorted, last epoch)")
    ax.set_xlabel("fraction of train samples")
    axes.flat[0].legend(fontsize=8)
    for a in axes.flat[4:6]:
        a.set_ylim(0, 1.02)
    written = []
    for ext in ("png", "pdf"):
        p = stem.with_name(stem.name + "." + ext)
        atomic_savefig(fig, p, dpi=120)
        written.append(p)
    plt.close(fig)
    return written
