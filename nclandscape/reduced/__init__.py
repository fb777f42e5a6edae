"""Exact class-reduced dynamics of the MSE-family UFM (THEORY.md §4; docs/reduced.md).

Full-batch GD, heavy-ball, Nesterov and L-BFGS on vanilla or rescaled MSE are simulated exactly by
``ReducedParams(W, b, G, D)`` — class means scaled by √n_k and one d×r map (one per class for
rescaled MSE) carrying every within-class deviation — at a cost independent of n.
"""
from nclandscape.reduced.metrics import class_scatter, reduced_metrics
from nclandscape.reduced.objective import reduced_objective
from nclandscape.reduced.solve import FULL_DRAW_MAX_ENTRIES, make_reduced_step, reduced_solve, solve_problem_reduced
from nclandscape.reduced.state import (
    REDUCIBLE_OPTIMIZERS, ReducedBasis, balanced_reduced_data, ReducedData, ReducedParams, check_reducible, expand_deviations, expand_params,
    is_per_class, layout_for, make_reduced_data, mask_reduced, pad_reduced, reduce_data, reduce_params,
    reduced_data_of, reduced_init, reducible, resolve_dynamics,
)

__all__ = [
    "class_scatter", "reduced_metrics", "reduced_objective", "FULL_DRAW_MAX_ENTRIES", "make_reduced_step",
    "reduced_solve", "solve_problem_reduced", "REDUCIBLE_OPTIMIZERS", "ReducedBasis", "balanced_reduced_data", "ReducedData",
    "ReducedParams", "check_reducible", "expand_deviations", "expand_params", "is_per_class", "layout_for",
    "make_reduced_data", "mask_reduced", "pad_reduced", "reduce_data", "reduce_params", "reduced_data_of",
    "reduced_init", "reducible", "resolve_dynamics",
]
