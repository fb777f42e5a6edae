"""(a) Is term (B) negligible? L⊥/f along UFM gradient-descent trajectories over a (λ, lr) grid.

Command:   nice -n 19 python -m experiments experiments/central_path/ufm_perp.py   (tiny CI variant: --tiny --out DIR)
Run time:  ~1-2 min on a shared 2-core CPU (float64; 4 λ x 4 lr x 4 seeds, 20,000 GD steps, vmapped).
Output:    experiments/central_path/results/ufm_perp/{config.json, traces.jsonl, table.md,
           ufm_perp.png} (the figure drawn from traces.jsonl).

Plain full-batch GD on vanilla MSE (K, n, d) = (4, 5, 6) with λ_W = λ_H = λ_b = λ, from
``init_params`` (N(0, 1) entries), recording at log-spaced steps the five terms of
``nclandscape.central_path.decomposition``. Each record is the median over seeds of L⊥/f and of f.
Expected: L⊥/f starts near ½ (a random classifier is far from least-squares), falls by orders of
magnitude as the classifier catches up with the features, and at λ > 0 goes to 0 at the global
minimiser (every critical point is on the central path). It is not negligible early in training and
when the step is too small for the classifier to track the features.
"""

RUNNER = "experiments.central_path.runner:run_ufm_perp"


def get_config(tiny: bool = False) -> dict:
    if tiny:
        return dict(K=3, n=2, d=3, lambdas=[0.0, 1e-2], lrs=[0.1, 0.5], seeds=2, steps=200, records=6)
    return dict(K=4, n=5, d=6, lambdas=[0.0, 1e-4, 1e-3, 1e-2], lrs=[0.05, 0.1, 0.25, 0.5], seeds=4, steps=20000,
                records=41)
