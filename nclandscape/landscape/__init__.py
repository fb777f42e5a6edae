"""Landscape geometry: polar landscapes of one feature (MSE paper Fig. 2, App. C) and slices of
the full UFM objective (random filter-normalised, Hessian eigenvector and saddle directions)."""
from nclandscape.landscape.grids import parse_K, parse_list
from nclandscape.landscape.polar import (
    POLAR_LOSSES, Plane, PolarGrid, etf_plane, feature_loss, limit_plane, make_plane, plane_basis, plane_for,
    polar_landscape, polar_loss, polar_minimizer_on_ray, polar_value_and_grad, simplex_etf,
)
from nclandscape.hessian.dense import dense_hessian
from nclandscape.landscape.slices import (
    DIRECTIONS, HessianEig, directions_for, hessian_eig, point_for, random_direction, slice_1d, slice_2d,
)

__all__ = [
    "parse_K", "parse_list", "POLAR_LOSSES", "Plane", "PolarGrid", "etf_plane", "feature_loss", "limit_plane",
    "make_plane", "plane_basis", "plane_for", "polar_landscape", "polar_loss", "polar_minimizer_on_ray",
    "polar_value_and_grad", "simplex_etf", "DIRECTIONS", "HessianEig", "dense_hessian", "directions_for",
    "hessian_eig", "point_for", "random_direction", "slice_1d", "slice_2d",
]
