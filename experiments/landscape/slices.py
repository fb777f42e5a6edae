"""Slices of the full UFM objective around solutions and through strict saddles.

Command:   python -m experiments experiments/landscape/slices.py   (tiny CI variant: --tiny --out DIR)
Run time:  ~10 s CPU on 2 cores, up to ~35 s wall on a busy machine (float64; dense Hessians of
           50-70 parameters, one L-BFGS solve).
Output:    experiments/landscape/results/slices/{config.json, slices.json, slices.png}
Problem:   K = 4, n = 2, d = 5, λ_W = λ_H = 1e-2 (λ_b = 1e-2 with bias; saddles: no bias).
Expected:  (a) random filter-normalised 1-D slices at the MSE and CE global minima never go below f*;
           (b) along the top/bottom Hessian eigenvectors the slice is ½λt² near 0 (bottom: λ ≈ 0, the
           rotation symmetry W → WQ, H → QᵀH); (c) a bowl in 2-D; (d) through every non-global
           critical point S of THEORY.md §3 the slice along the negative-curvature direction falls
           like ½λ_min t² with λ_min the closed-form value, while the global one (|S| = K) has none;
           (e) the 2-D saddle; (f) rescaled MSE (α = 2, M = 2, no closed form) solved by L-BFGS: a bowl.
"""

RUNNER = "experiments.landscape.runner:run_slices"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "name": "slices",
        "problem": {"K": 4, "n": 2, "d": 5, "lambda_W": 1e-2, "lambda_H": 1e-2, "lambda_b": 1e-2},
        "points_1d": 81,
        "points_2d": 41,
        "span_random": 1.0,
        "span_hessian": 1.5,
        "seeds": [0, 1, 2],
        "saddles": [[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3]],
        "rescaled": {"alpha": 2.0, "M": 2.0},
        "solve_steps": 3000,
    }
    if tiny:
        return {**cfg, "points_1d": 5, "points_2d": 3, "seeds": [0], "saddles": [[0], [0, 1, 2, 3]], "solve_steps": 20}
    return cfg
