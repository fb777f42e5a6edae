"""nclandscape: a JAX engine for the optimisation landscape of Neural Collapse."""
from nclandscape.errors import ConfigError
from nclandscape.metrics import NCMetrics, cosine_margins, nc_metrics, sorted_cosine_margins
from nclandscape.objectives import ce_objective, ce_per_sample, mse_objective, mse_per_sample, objective_for, rescaled_mse_per_sample, weight_decay
from nclandscape.solve import OPTIMIZERS, SolveResult, make_optimizer, solve, solve_problem
from nclandscape.ufm import HParams, Params, Problem, UFMData, init_params, make_data, make_hparams

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "NCMetrics", "cosine_margins", "nc_metrics", "sorted_cosine_margins",
    "ce_objective", "ce_per_sample", "mse_objective", "mse_per_sample", "objective_for",
    "rescaled_mse_per_sample", "weight_decay", "OPTIMIZERS", "SolveResult", "make_optimizer",
    "solve", "solve_problem", "HParams", "Params", "Problem", "UFMData", "init_params",
    "make_data", "make_hparams",
]
