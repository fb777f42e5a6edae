"""(c, diagnostic) L⊥/f of a finished ResNet MSE run on eval-mode vs train-mode features.

Command:   python -m experiments.central_path.resnet_bn_check RUN
Run time:  ~1 min on a CPU for the CPU-sized run (two passes over its train images).
Output:    a Markdown table on stdout and RUN/bn_check.json.

``metrics.jsonl`` decomposes the *eval-mode* features (batch norm with running statistics), but
the classifier was trained on *train-mode* features (batch statistics of each mini-batch). This
script decomposes both at the last checkpoint with the same (W, b): train-mode features are
computed batch by batch with the run's batch size in the training order of the last epoch, without
augmentation. If L⊥/f is much smaller on the train-mode features, the eval-mode L⊥ measures the
batch-norm mismatch rather than a classifier lagging behind its features.
"""
from __future__ import annotations

import argparse
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    args = ap.parse_args(argv)
    from nclandscape.central_path.networks import network_terms
    from nclandscape.nets.data import load_dataset, preprocess
    from nclandscape.nets.resnet import classifier_weights
    from nclandscape.nets.runner import load_run

    cfg, model, state, meta = load_run(args.run)
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
    with open(os.path.join(args.run, "bn_check.json"), "w") as f:
        json.dump({"epoch": meta["epoch"], **out}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
