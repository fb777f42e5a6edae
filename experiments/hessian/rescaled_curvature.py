"""Open question (ii): rescaled MSE — are the global minimisers NC, and how do α and M change the
curvature at the minimum?

Command:   python -m experiments experiments/hessian/rescaled_curvature.py   (tiny CI variant: --tiny)
Run time:  ~2 min on 2 CPU cores (--tiny: ~20 s).

Rescaled MSE (THEORY.md §1) has no closed-form minimiser. For K = 4, n = 3, d = 4 (bias,
λ_W = λ_H = 5e-3, λ_b = 1e-2) and each (α, M) on a grid, we minimise from ``seeds`` random
starts (float64 L-BFGS, ‖∇f‖ <= 1e-10), keep the lowest value, check that every converged seed
reaches it (evidence of a unique global value), certify it with the exact structured spectrum
(λ_min, index) and record NC1/NC2/NC3, the smallest non-zero eigenvalue λ_+ (eigenvalues below
1e-8 · λ_max are the zero modes of the O(d) rotation symmetry W → WQ, H → QᵀH) and the condition
number κ = λ_max / λ_+.
Expected result: all seeds reach one value, NC1 ≈ 0 and NC2, NC3 ≈ 0 (simplex ETF) at every
(α, M), with λ_min ≈ 0 (only symmetry zero modes); κ changes with α and M (printed and plotted).
Output:    experiments/hessian/results/rescaled_curvature/ (rescaled_curvature_tiny/ with --tiny):
           config.json, results.jsonl, rescaled_curvature.png.
"""

RUNNER = "experiments.hessian.runner:run_rescaled_curvature"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "K": 4,
        "n": 3,
        "d": 4,
        "lambda_W": 5e-3,
        "lambda_H": 5e-3,
        "lambda_b": 1e-2,
        "alphas": [1.0, 2.0, 4.0, 8.0],
        "Ms": [1.0, 2.0, 4.0, 8.0],
        "seeds": 6,
        "steps": 3000,
        "zero_rtol": 1e-8,
    }
    if tiny:
        return {**cfg, "alphas": [1.0, 4.0], "Ms": [1.0, 4.0], "seeds": 2, "steps": 1500}
    return cfg
