"""Penultimate features of a trained run, saved to a file and drawn in 3-D (MSE paper Fig. 7).

:func:`export_features` draws ``per_class`` train samples of every class with a fixed seed
(``numpy.random.default_rng(seed)``, without replacement; all of a class if it has fewer),
computes their eval-mode features from the run's checkpoint and writes
``<run>/features_3d.npz`` (``features (n, d)``, ``labels (n,)``, ``indices (n,)`` into the
train set, ``classes``). :func:`plot_features_3d` reads such files only and draws one 3-D
scatter per run, one colour per class (the first three coordinates when d > 3).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nclandscape.fileio import atomic_savefig

FEATURES_FILE = "features_3d.npz"


def sample_indices(labels, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``per_class`` random samples of every class (all if fewer)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        out.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(out))


def export_features(run_dir, *, per_class: int = 100, seed: int = 0,
                    batch_size: int = 500) -> Path:
    """Write ``<run_dir>/features_3d.npz`` from the run's checkpoint; returns its path."""
    import jax.numpy as jnp

    from nclandscape.nets.data import load_dataset, preprocess
    from nclandscape.nets.runner import load_run

    run_dir = Path(run_dir)
    cfg, model, state, _ = load_run(run_dir)
    ds = load_dataset(cfg)
    idx = sample_indices(ds.y_train, per_class, seed)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    feats = []
    for i in range(0, len(idx), batch_size):
        x = preprocess(jnp.asarray(ds.x_train[idx[i:i + batch_size]]), None, mean=ds.mean,
                       std=ds.std, augment=False)
        feats.append(np.asarray(model.apply(variables, x, train=False)[1]))
    path = run_dir / FEATURES_FILE
    np.savez(path, features=np.concatenate(feats), labels=ds.y_train[idx], indices=idx,
             classes=np.asarray(ds.classes))
    return path


def plot_features_3d(run_dirs, out, *, titles=None) -> list[Path]:
    """One 3-D scatter per run from ``<run>/features_3d.npz``; writes ``<out>.png|pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nclandscape.errors import ConfigError

    run_dirs = [Path(p) for p in run_dirs]
    files = [p / FEATURES_FILE for p in run_dirs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(f"no {FEATURES_FILE} in {', '.join(missing)}; run export_features first")
    if titles is None:
        titles = []
        for p in run_dirs:
            try:
                titles.append(json.loads((p / "config.json").read_text()).get("label") or p.name)
            except (OSError, ValueError):
                titles.append(p.name)
    fig = plt.figure(figsize=(5.2 * len(files), 5.0))
    cmap = plt.get_cmap("tab10")
    for i, (f, title) in enumerate(zip(files, titles)):
        z = np.load(f)
        H, y, classes = z["features"], z["labels"], z["classes"]
        H3 = np.zeros((len(H), 3))
        H3[:, : min(3, H.shape[1])] = H[:, :3]
        ax = fig.add_subplot(1, len(files), i + 1, projection="3d")
        for k in range(len(classes)):
            m = y == k
            ax.scatter(H3[m, 0], H3[m, 1], H3[m, 2], s=6, color=cmap(k % 10), label=str(classes[k]),
                       depthshade=False)
        ax.set_title(f"{title} ({int(np.sum(y == 0))} train samples per class)", fontsize=9)
        ax.set_xlabel("h1")
        ax.set_ylabel("h2")
        ax.set_zlabel("h3")
    fig.axes[0].legend(fontsize=7, markerscale=2, loc="upper right", bbox_to_anchor=(0.0, 1.0))
    stem = Path(out)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        p = stem.with_name(stem.name + "." + ext)
        atomic_savefig(fig, p, dpi=110)
        written.append(p)
    plt.close(fig)
    return written


def feature_scatter(run_dirs, out, *, per_class: int = 100, seed: int = 0) -> list[Path]:
    """:func:`export_features` for every run, then :func:`plot_features_3d` from the files."""
    for d in run_dirs:
        export_features(d, per_class=per_class, seed=seed)
    return plot_features_3d(run_dirs, out)
