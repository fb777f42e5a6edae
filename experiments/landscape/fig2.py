"""Fig. 2 of the MSE paper: polar landscapes of (a) MSE, (b) CE, (c), (d) rescaled MSE at K = 10.

The paper (Sec. 3.3, App. C.1): W a simplex ETF, b = 0, a class-k feature h restricted to
span{w^k, w^k'}; s = ‖h‖ on one axis, θ = arccos⟨h/‖h‖, w^k⟩ on the other; the losses are its
eq. 31 (rescaled MSE, α = M = 1 for vanilla MSE) and eq. 32 (CE). Ours: the real per-sample
objective of h on that plane (``nclandscape.landscape.polar``; THEORY.md §7 has the closed forms
the tests compare with), gradient by autodiff, θ ∈ [0, π], no weight decay on h.

Where the text is silent we chose: K = 10 (CIFAR-10's K); (c) α = 5, M = 1 and (d) α = 1,
M = 5 (one rescaling factor per panel, values from the authors' Fig. 6 grid: the text only says
rescaling "with large M, in particular" gives a CE-like landscape); s ∈ [0, 2M] for the MSE
panels (minimum near s = M) and [0, 4] for CE. Arrows: −(∂_θ f, ∂_s f), length proportional to
the gradient norm (``--set arrows=unit`` for unit length).

Command:   python -m experiments experiments/landscape/fig2.py   (tiny CI variant: --tiny --out DIR)
Run time:  ~5 s on 2 CPU cores (float64; 4 panels of 61 x 91 points).
Output:    experiments/landscape/results/fig2/{config.json, grids.npz, summary.jsonl, fig2.png,
           fig2_plane.png}
Expected:  (a) MSE: steep in s, flat in θ; its minimum on θ = 0 at s* = 1/(1 + 1/(K−1)) = 0.9.
           (b) CE: steeper in θ than in s for s > 1, θ < 1.5, decreasing along θ = 0 forever.
           (c), (d): the valley around θ = 0 steepens in θ; M only dilates the landscape
           (f_{α,M}(h) = M² f_{α,1}(h/M)), so (d) is (a) magnified, with angular gradients M² larger.
"""
RUNNER = "experiments.landscape.runner:run_polar"
K = 10


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "name": "fig2",
        "layout": [2, 2],
        "s_points": 61,
        "theta_points": 91,
        "theta_range": [0, "pi"],
        "arrows": "norm",
        "panels": [
            {"title": "(a) MSE, K = 10", "loss": "mse", "K": K, "s_max": 2.0},
            {"title": "(b) CE, K = 10", "loss": "ce", "K": K, "s_max": 4.0},
            {"title": "(c) rescaled MSE (alpha = 5, M = 1), K = 10", "loss": "rescaled_mse", "K": K,
             "alpha": 5.0, "M": 1.0, "s_max": 2.0},
            {"title": "(d) rescaled MSE (alpha = 1, M = 5), K = 10", "loss": "rescaled_mse", "K": K,
             "alpha": 1.0, "M": 5.0, "s_max": 10.0},
        ],
    }
    return {**cfg, "s_points": 5, "theta_points": 7} if tiny else cfg  # tiny: same panels, 5 x 7 grids
