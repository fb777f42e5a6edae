"""Solver loop on the reduced state: the same optax optimisers and stopping rule as
:func:`nclandscape.solve.solve`, with the reduced objective and the reduced padding mask.

Because the reduction is a linear isometry onto the subspace where full-batch MSE dynamics live,
every value, gradient norm, inner product, line-search trial and L-BFGS memory pair is the same
number as in the full run: the trajectory (and the stopping step) is the full one.
"""
from __future__ import annotations


import jax
import jax.numpy as jnp

from nclandscape.errors import ConfigError
from nclandscape.objectives import DEFAULT_LOSS
from nclandscape.optimizers import DEFAULT_OPTIMIZER, optimizer_spec
from nclandscape.reduced.metrics import reduced_metrics
from nclandscape.reduced.objective import reduced_objective
from nclandscape.reduced.state import (
    PER_CLASS, ReducedData, ReducedParams, check_reducible, layout_for, mask_reduced, reduce_data, reduce_params, reduced_data_of,
    reduced_init,
)
from nclandscape.solve import (
    STATUS_DIVERGED, STATUS_NOT_CONVERGED, STATUS_OK, SolveResult, check_optimizer,
    default_tol, grad_tolerance, make_step_fn, minimize, report, run_timed,
)
from nclandscape.ufm import HParams

# Above this many feature entries (N·d) solve_problem_reduced samples the reduced initial state
# directly instead of drawing the full H (reconstruction is then unavailable).
FULL_DRAW_MAX_ENTRIES = 1 << 24


def make_reduced_step(rdata: ReducedData, hparams: HParams, opt, name: str):
    """One optimiser step on the reduced state (pure), the twin of ``nclandscape.solve.make_step``."""
    return make_step_fn(lambda p: reduced_objective(p, rdata, hparams), lambda p: mask_reduced(p, rdata), opt, name)


def _check_layout(loss: str, rparams: ReducedParams) -> None:
    if layout_for(loss) == PER_CLASS and rparams.D.ndim != 3:
        raise ConfigError(f"{loss} needs the per-class reduced layout (D of shape (K, d, r)): "
                          f"reduce with loss={loss!r}")


def reduced_solve(rparams0: ReducedParams, rdata: ReducedData, hparams: HParams, *, loss: str = DEFAULT_LOSS,
                  optimizer: str = DEFAULT_OPTIMIZER, lr=None, max_steps=1000, tol=None) -> SolveResult:
    """Minimise the reduced objective from ``rparams0``; pure, jittable and vmappable.

    Returns a ``SolveResult`` whose ``params`` are ``ReducedParams``; value, grad_norm, steps and
    status equal those of the full ``solve`` from the expanded start. ``lr``, ``max_steps`` and
    ``tol`` may be traced; ``loss`` and ``optimizer`` are static.
    """
    check_optimizer(optimizer)
    check_reducible(loss, optimizer)
    _check_layout(loss, rparams0)
    tol = default_tol(rdata.sizes.dtype) if tol is None else tol
    return minimize(lambda p: reduced_objective(p, rdata, hparams), rparams0, optimizer=optimizer, lr=lr,
                    max_steps=max_steps, gtol=grad_tolerance(tol, hparams), project=lambda p: mask_reduced(p, rdata))


def solve_problem_reduced(problem, *, optimizer=DEFAULT_OPTIMIZER, lr=None, steps=1000, seed=0, scale=1.0, tol=None,
                          dtype=None, init="auto") -> dict:
    """:func:`nclandscape.solve.solve_problem` on the reduced dynamics; same keys plus
    ``dynamics`` ("reduced") and ``init``.

    ``init="full"`` draws the same ``init_params`` as the full solver and reduces it, so both
    dynamics give the same result for the same seed (and NC4 / cosine margins are exact, from the
    reconstruction); ``init="direct"`` samples the reduced state in law (any n; NC4 and margins are
    then None); ``"auto"`` picks ``full`` up to ``FULL_DRAW_MAX_ENTRIES`` feature entries.
    """
    from nclandscape.ufm import init_params

    check_optimizer(optimizer)
    check_reducible(problem.loss, optimizer)
    if init not in ("auto", "full", "direct"):
        raise ConfigError(f"init={init!r} is not allowed: choose auto, full or direct")
    if init == "auto":
        init = "full" if problem.N * problem.d <= FULL_DRAW_MAX_ENTRIES else "direct"
    dtype = dtype or jnp.zeros(()).dtype
    hp = problem.hparams(dtype=dtype)
    lr = optimizer_spec(optimizer).lr if lr is None else lr
    tol = default_tol(dtype) if tol is None else tol
    loss = problem.loss

    if init == "full":
        data = problem.data(dtype=dtype)

        @jax.jit
        def run(key, lr, tol):
            rp0, basis = reduce_params(init_params(key, data, scale=scale), data, loss=loss)
            rdata = reduce_data(data, basis)
            r = reduced_solve(rp0, rdata, hp, loss=loss, optimizer=optimizer, lr=lr, max_steps=steps, tol=tol)
            return r, reduced_metrics(r.params, rdata, basis), basis
    else:
        rdata0 = reduced_data_of(problem, dtype=dtype)

        @jax.jit
        def run(key, lr, tol):
            rp0, rdata = reduced_init(key, rdata0, scale=scale, loss=loss)
            r = reduced_solve(rp0, rdata, hp, loss=loss, optimizer=optimizer, lr=lr, max_steps=steps, tol=tol)
            return r, reduced_metrics(r.params, rdata), None

    (r, m, basis), elapsed = run_timed(run, jax.random.PRNGKey(seed), jnp.asarray(lr, dtype), jnp.asarray(tol, dtype))
    out = report(problem, r, m, optimizer=optimizer, lr=lr, seed=seed, dtype=dtype, time_s=elapsed)
    out.update(dynamics="reduced", init=init)
    out["_rparams"] = r.params
    out["_params"] = None
    if basis is not None:
        from nclandscape.reduced.state import expand_params

        out["_params"] = expand_params(r.params, basis, data)
    return out


__all__ = ["make_reduced_step", "reduced_solve", "solve_problem_reduced", "STATUS_OK", "STATUS_DIVERGED",
           "STATUS_NOT_CONVERGED", "FULL_DRAW_MAX_ENTRIES"]
