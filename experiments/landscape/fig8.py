"""Fig. 8 (App. C.2) of the MSE paper: K → ∞ gradient fields of MSE, rescaled MSE and CE.

The paper: the K → ∞ rescaled MSE (its eq. 33) with gradient eq. 34, and the CE gradient eq. 35;
"the arrows point to gradient descent directions with length proportional to the gradient
norm". Ours: those closed forms (``nclandscape.landscape.limits``, checked by the tests against
finite differences and against the real objective on the K → ∞ plane), arrows −(∂_θ f, ∂_s f)
as gradient-descent steps of one step size per panel (``--set arrows=unit`` for unit length),
contours of the limiting loss behind them, θ ∈ [0, π].

Eq. 35 differentiates the CE of only the two logits (s cos θ, s sin θ),
log(1 + e^{s(sin θ − cos θ)}). The exact K → ∞ limit of the paper's eq. 32 is
log(K − 1) − s cos θ + o(1), i.e. CE − log(K − 1) → −s cos θ, whose gradient (−cos θ, s sin θ)
has no k'-pull. Panel (b) draws the paper's form, (e) the exact limit, (f) their difference
log(e^{s cos θ} + e^{s sin θ}) (paper − exact).

Panels (the text does not list the figure's (α, M); ours, as in Fig. 2): (a) MSE,
(b) CE (eq. 35), (c) α = 5, M = 1, (d) α = 1, M = 5, (e) CE exact limit, (f) (b) − (e).

Command:   python -m experiments experiments/landscape/fig8.py   (tiny CI variant: --tiny --out DIR)
Run time:  ~3 s on 2 CPU cores (closed forms, float64; 6 panels of 61 x 91 points).
Output:    experiments/landscape/results/fig8/{config.json, grids.npz, summary.jsonl, fig8.png,
           fig8_plane.png}
Expected:  MSE: ∂_θ f = s sin θ is small next to ∂_s f near the solution (s = 1, θ = 0);
           raising α or M raises the θ-component (αM s sin θ at α = 1) while the s-component
           keeps its form, so the arrows turn towards θ = 0. CE (eq. 35): arrows turn towards
           θ = 0 and grow with s; the exact limit's field (−cos θ, s sin θ) is M = α = 1's
           angular part without any radial restoring force.
"""
RUNNER = "experiments.landscape.runner:run_polar"


def get_config(tiny: bool = False) -> dict:
    cfg = {
        "name": "fig8",
        "layout": [2, 3],
        "s_points": 61,
        "theta_points": 91,
        "theta_range": [0, "pi"],
        "arrows": "norm",
        "panels": [
            {"title": "(a) MSE, K -> inf (eq. 34)", "loss": "mse", "closed_form": True, "s_max": 2.0},
            {"title": "(b) CE, K -> inf, paper's form (eq. 35)", "loss": "ce_paper", "closed_form": True,
             "s_max": 4.0},
            {"title": "(c) rescaled MSE alpha = 5, M = 1 (eq. 34)", "loss": "rescaled_mse",
             "closed_form": True, "alpha": 5.0, "M": 1.0, "s_max": 2.0},
            {"title": "(d) rescaled MSE alpha = 1, M = 5 (eq. 34)", "loss": "rescaled_mse",
             "closed_form": True, "alpha": 1.0, "M": 5.0, "s_max": 10.0},
            {"title": "(e) CE - log(K-1), exact K -> inf limit: -s cos(theta)", "loss": "ce_exact",
             "closed_form": True, "s_max": 4.0},
            {"title": "(f) (b) - (e): log(e^{s cos} + e^{s sin})", "difference_of": [1, 4], "s_max": 4.0},
        ],
    }
    return {**cfg, "s_points": 5, "theta_points": 7} if tiny else cfg  # tiny: same panels, 5 x 7 grids
