"""Open question (iii): Hessian spectra of cross-entropy at its global minimum, beside vanilla MSE.

Command:   python -m experiments experiments/hessian/ce_spectra.py   (tiny CI variant: --tiny)
Run time:  ~1 min on 2 CPU cores (--tiny: ~15 s).

For K = 4, n = 3, d ∈ {3, 4, 6} (bias, λ_b = 1e-2) and λ_W = λ_H = λ on a grid, the closed-form CE
minimiser (THEORY.md §2b: simplex-ETF W, h = c w^k, b = 0) is certified with its exact structured
spectrum (‖∇f‖, λ_min, index), cross-checked by float64 L-BFGS from random starts (the best value
must equal f*), and compared with the closed-form vanilla-MSE minimiser of the same problem:
smallest non-zero eigenvalue λ_+ (eigenvalues below 1e-8 · λ_max are the O(d) rotation zero
modes), λ_max, condition number κ = λ_max / λ_+ and the number of zero modes.
Expected result (measured, see experiments/RESULTS.md): every CE minimiser is a minimum
with only symmetry zero modes (index 0) and λ_+ = λ (the weight decay); its λ_max is small
(softmax curvature p(1 − p) at a confident optimum, ≈ 0.02 … 0.1) while MSE's is ≈ 1.1, so at
the minimum CE is far *better* conditioned than MSE (κ ≈ 10–20 vs ≈ 1/λ).
Output:    experiments/hessian/results/ce_spectra/ (ce_spectra_tiny/ with --tiny): config.json,
           results.jsonl, ce_spectra.png.
"""

RUNNER = "experiments.hessian.runner:run_ce_spectra"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "K": 4,
        "n": 3,
        "ds": [3, 4, 6],
        "lambdas": [1e-3, 3e-3, 1e-2, 3e-2],
        "lambda_b": 1e-2,
        "seeds": 4,
        "steps": 3000,
        "zero_rtol": 1e-8,
    }
    if tiny:
        return {**cfg, "ds": [3], "lambdas": [1e-3, 1e-2], "seeds": 2, "steps": 1500}
    return cfg
