"""App. C (Fig. 8) of the MSE paper: polar landscapes for several (α, M) and for cross-entropy.

Command:   .venv/bin/python -m experiments.landscape.fig8        (tiny CI variant: --tiny --out DIR)
Run time:  ~6 s on 2 CPU cores (float64; 12 panels of 61 x 91 points).
Output:    experiments/landscape/results/fig8/{config.json, grids.npz, summary.jsonl, fig8.png}
Expected:  rows 1-3, K = 10, α ∈ {1, 2, 4} down, M ∈ {1, 2, 4} across, s ∈ [0, 2M]: minimum at θ = 0,
           s* = αM/(α + 1/9); along a row the pictures are identical up to the axis scale (M only
           dilates), down a column the valley around θ = 0 narrows radially as α grows.
           Row 4, cross-entropy at K = 10: with no weight decay the loss decreases forever along
           θ = 0 (no finite minimiser: the infimum 0 is approached as s → ∞); with λ_H = 0.05 the
           minimiser is finite on θ = 0; the K → ∞ panel is the centred limit CE − log(K − 1) →
           −s cos θ (+ λ_H s²/2), minimised at s = 1/λ_H = 20, θ = 0.
"""
from experiments.landscape.runner import cli, default_out, run_polar, tiny

ALPHAS = (1.0, 2.0, 4.0)
MS = (1.0, 2.0, 4.0)

CONFIG = {
    "name": "fig8",
    "layout": [4, 3],
    "s_points": 61,
    "theta_points": 91,
    "panels": [
        {"title": f"rescaled MSE alpha={a:g}, M={m:g}, K=10", "loss": "rescaled_mse", "K": 10, "alpha": a, "M": m,
         "s_max": 2.0 * m}
        for a in ALPHAS for m in MS
    ] + [
        {"title": "CE, K=10", "loss": "ce", "K": 10, "s_max": 8.0},
        {"title": "CE, K=10, lambda_H=0.05", "loss": "ce", "K": 10, "lambda_H": 0.05, "s_max": 8.0},
        {"title": "CE - log(K-1), K -> inf, lambda_H=0.05", "loss": "ce", "K": "inf", "lambda_H": 0.05, "s_max": 40.0},
    ],
}


def main(argv=None):
    args = cli(__doc__, "fig8").parse_args(argv)
    cfg = tiny(CONFIG) if args.tiny else CONFIG
    return run_polar(cfg, args.out or default_out("fig8"))


if __name__ == "__main__":
    main()
