"""The decomposition on a trained network's penultimate features (float64 on the host).

A network trained with MSE ``mean_i ½||W h_i + b − e_{y_i}||² + (λ/2) Σ_θ ||θ||²`` (the runner's
objective, ``nclandscape.nets.losses``) has exactly the UFM normalisation ``(1/2N)||WH + b1ᵀ − Y||²``
of f, with the last layer decayed by the same λ: λ_W = λ_b = weight_decay and λ_H = 0 (features
are data; their parameters' decay is not part of f). No factor K appears, unlike PyTorch's
``MSELoss()`` (a mean over N·K entries; there λ_W = K·weight_decay/2 in our units). A fixed
(non-parameter) ETF classifier is not decayed: λ_W = 0 for it.
"""
from __future__ import annotations

import jax
import numpy as np

from nclandscape.central_path.decomposition import JSON_KEYS, decomposition, perp_over_f
from nclandscape.ufm import make_hparams


def network_terms(W, b, features, labels, num_classes: int, *, lam_W: float, lam_b: float) -> dict:
    """``{L_nc1_within, L_nc1_ridge, L_nc23, L_perp, L_features, L_total, L_perp_over_f}`` of the
    last layer ``(W (K, d), b (K,) or None)`` on ``features (N, d)`` with integer ``labels (N,)``.

    Computed in float64 (inside ``jax.enable_x64``) from the full feature matrix.
    """
    with jax.enable_x64(True):
        H = np.asarray(features, np.float64).T
        Y = np.zeros((num_classes, H.shape[1]))
        Y[np.asarray(labels), np.arange(H.shape[1])] = 1.0
        bias = b is not None
        bb = np.zeros(num_classes) if b is None else np.asarray(b, np.float64)
        hp = make_hparams(lam_W, 0.0, lam_b if bias else 0.0, dtype=np.float64)
        t = decomposition(np.asarray(W, np.float64), H, bb, Y, hp, bias=bias)
        out = {JSON_KEYS[k]: float(v) for k, v in t._asdict().items()}
        out["L_total"] = float(t.total)
        out["L_perp_over_f"] = float(perp_over_f(t))
    return out
