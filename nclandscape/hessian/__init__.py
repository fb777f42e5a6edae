"""Hessian spectra of UFM objectives: dense exact, structured exact at class-collapsed points
(THEORY.md §5), Lanczos / stochastic Lanczos quadrature on Hessian-vector products, critical
points and their certification, the one ``auto`` method policy (``policy.py``), and the sweep
columns ``min_eig``, ``index``, ``hessian_method``. The points themselves (closed-form minimisers,
saddles, Newton's root-finder, ``--at``) are in :mod:`nclandscape.points`.
"""
from nclandscape.hessian.columns import lanczos_spectrum, sweep_columns
from nclandscape.hessian.dense import (
    DENSE_MAX,
    Spectrum,
    check_dense_size,
    coordinate_mask,
    dense_hessian,
    dense_spectrum,
    flat_hessian,
    flat_hvp,
    flat_mask,
    hvp,
    index_threshold,
    masked_eigh,
    min_eig_and_index,
)
from nclandscape.hessian.lanczos import Quadrature, RitzPairs, density, lanczos, lanczos_eigh, ritz, slq
from nclandscape.hessian.policy import HESSIAN_METHODS, METHOD_CODES, MethodPlan, check_method, choose, plan_method
from nclandscape.hessian.structured import (
    StructuredSpectrum,
    collapse_residual,
    collapse_tol,
    expand,
    collapsed_hessian,
    structured_spectrum,
    within_class_blocks,
)

__all__ = [
    "DENSE_MAX", "HESSIAN_METHODS", "METHOD_CODES", "MethodPlan", "Quadrature", "RitzPairs", "Spectrum",
    "StructuredSpectrum", "check_dense_size", "check_method", "choose", "collapse_residual", "collapse_tol",
    "coordinate_mask", "dense_hessian", "dense_spectrum", "density", "expand", "flat_hessian", "flat_hvp",
    "flat_mask", "hvp", "index_threshold", "lanczos", "lanczos_eigh", "lanczos_spectrum", "masked_eigh",
    "min_eig_and_index", "plan_method", "collapsed_hessian", "ritz", "slq", "structured_spectrum",
    "sweep_columns", "within_class_blocks",
]
