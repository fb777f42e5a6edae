"""Fig. 2 of the MSE paper: vanilla vs rescaled MSE polar landscapes with gradient fields.

Command:   .venv/bin/python -m experiments.landscape.fig2        (tiny CI variant: --tiny --out DIR)
Run time:  ~5 s on 2 CPU cores (float64; 4 panels of 61 x 91 points, gradient by autodiff).
Output:    experiments/landscape/results/fig2/{config.json, grids.npz, summary.jsonl, fig2.png}
Expected:  every panel has its minimum on θ = 0 (the feature aligned with its classifier w^k) at
           s* = αM/(α + 1/(K−1)) (K = 10) or s* = M (K → ∞); rescaling by M only dilates the
           landscape (f_{α,M}(h) = M² f_{α,1}(h/M)), α makes the radial valley steeper than the
           angular one. W is a unit-row simplex ETF, b = 0, no weight decay on h (as in the paper);
           (α, M) = (3, 3) is our choice of rescaling.
"""
from experiments.landscape.runner import cli, default_out, run_polar, tiny

CONFIG = {
    "name": "fig2",
    "layout": [2, 2],
    "s_points": 61,
    "theta_points": 91,
    "panels": [
        {"title": "MSE, K -> inf", "loss": "mse", "K": "inf", "s_max": 2.0},
        {"title": "rescaled MSE (alpha=3, M=3), K -> inf", "loss": "rescaled_mse", "K": "inf", "alpha": 3.0, "M": 3.0, "s_max": 6.0},
        {"title": "MSE, K = 10", "loss": "mse", "K": 10, "s_max": 2.0},
        {"title": "rescaled MSE (alpha=3, M=3), K = 10", "loss": "rescaled_mse", "K": 10, "alpha": 3.0, "M": 3.0, "s_max": 6.0},
    ],
}


def main(argv=None):
    args = cli(__doc__, "fig2").parse_args(argv)
    cfg = tiny(CONFIG) if args.tiny else CONFIG
    return run_polar(cfg, args.out or default_out("fig2"))


if __name__ == "__main__":
    main()
