"""Which method computes the Hessian spectrum of a point: the one ``auto`` policy, shared by
:func:`~nclandscape.hessian.certify.spectrum_at`, :func:`~nclandscape.hessian.columns.sweep_columns`
and the commands' memory checks.

``auto``: ``structured`` (exact, THEORY.md §5) where the point is class-collapsed and the
objective has a per-sample loss (MSE, rescaled MSE, CE); otherwise ``dense`` when the parameter
count ``P <= dense_max`` (:data:`~nclandscape.hessian.dense.DENSE_MAX`), else ``lanczos``. The
dense/Lanczos part depends on shapes only (static under ``jit``); collapsed-or-not is a property
of the point, so a :class:`MethodPlan` keeps the two apart and :func:`choose` combines them.
"""
from __future__ import annotations

from typing import NamedTuple

from nclandscape.errors import ConfigError
from nclandscape.hessian import structured as _structured
from nclandscape.hessian.dense import DENSE_MAX

HESSIAN_METHODS = ("structured", "dense", "lanczos")  # code -> name
METHOD_CODES = {name: i for i, name in enumerate(HESSIAN_METHODS)}


def check_method(method: str) -> str:
    if method not in ("auto",) + HESSIAN_METHODS:
        raise ConfigError(f"method={method!r} is not allowed: choose one of auto, {', '.join(HESSIAN_METHODS)}")
    return method


class MethodPlan(NamedTuple):
    """The static part of a method choice."""

    method: str  # the method where the point is not class-collapsed (or the one asked for)
    structured_if_collapsed: bool  # switch to "structured" at class-collapsed points


def plan_method(objective, P: int, method: str = "auto", *, dense_max: int = DENSE_MAX) -> MethodPlan:
    """The :class:`MethodPlan` of ``method`` for ``objective`` and ``P`` parameters. An explicit
    ``structured`` with an objective that has no per-sample loss raises ConfigError."""
    check_method(method)
    if method == "structured" and not _structured.supports(objective):
        _structured.per_sample_loss(objective, None, None)  # raises the ConfigError
    if method != "auto":
        return MethodPlan(method, False)
    return MethodPlan("dense" if P <= dense_max else "lanczos", _structured.supports(objective))


def choose(plan: MethodPlan, collapsed: bool) -> str:
    """The method of a point given whether it is class-collapsed (a Python bool)."""
    return "structured" if (plan.structured_if_collapsed and collapsed) else plan.method
