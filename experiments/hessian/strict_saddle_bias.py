"""Open question (i): with bias and d <= K, is every non-global critical point a strict saddle?

Command:   python -m experiments experiments/hessian/strict_saddle_bias.py   (tiny CI variant: --tiny)
Run time:  ~3 min on 2 CPU cores (--tiny: ~30 s).

The MSE paper proves the strict-saddle property with bias only for d > K (Thm 3.3). Here, for
vanilla MSE with bias, K = 4, n = 3 and d = 1 … 4, we collect critical points two ways: (a)
Newton on the class-collapsed problem from the §3-type construction for Y − β 1 1ᵀ (every subset
S of the basis of 1^⊥ with |S| <= d, with and without the 1-direction, several β), (b) random
collapsed starts (several scales), L-BFGS on ‖∇g‖², then Newton. (Every critical point of MSE with
λ_H > 0 is class-collapsed — see ``nclandscape.hessian.critical`` — so this search is over all
critical points.) Each point with ‖∇f‖ <= 1e-10 (full objective) is certified with its exact
structured spectrum; distinct critical values are kept.
Expected result: every non-global critical point found has λ_min < 0 (a strict saddle), also
those with rank W = d where the escape-direction argument of §3 does not apply.
Output:    experiments/hessian/results/strict_saddle_bias/ (strict_saddle_bias_tiny/ with --tiny):
           config.json, results.jsonl (one row per distinct critical point), strict_saddle_bias.png.
"""

RUNNER = "experiments.hessian.runner:run_strict_saddle_bias"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "K": 4,
        "n": 3,
        "ds": [1, 2, 3, 4],
        "lambda_W": 1e-2,
        "lambda_H": 1e-2,
        "lambda_bs": [1e-3, 1e-1, 1.0],
        "betas": [None, 0.0, 0.15],  # None: 1/(K(1+λ_b))
        "random_starts": 48,
        "scales": [0.1, 0.5, 1.5],
        "descent_steps": 300,
        "grad_tol": 1e-10,
    }
    if tiny:
        return {**cfg, "ds": [2, 4], "lambda_bs": [1e-1], "betas": [None], "random_starts": 8, "scales": [0.5],
                "descent_steps": 100}
    return cfg
