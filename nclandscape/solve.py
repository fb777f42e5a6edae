"""Single-problem solver: GD, heavy-ball, Nesterov, Adam and L-BFGS (optax), with early stopping.

``solve(objective, params0, data, hparams, config)`` is pure and jittable; all of its numbers
(learning rate included, through ``optax.inject_hyperparams``) are arrays, so the sweep engine
vmaps it over configurations. The loop is a ``lax.while_loop`` that stops on ``||∇f|| <= tol``,
on a non-finite value (diverged) or after ``max_steps``; under ``vmap`` every configuration keeps
its own stopping step.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from nclandscape.errors import ConfigError
from nclandscape.optimizers import (  # noqa: F401 (OPTIMIZERS, make_optimizer: re-exported)
    DEFAULT_OPTIMIZER, OPTIMIZERS, make_optimizer, optimizer_names, optimizer_spec,
)
from nclandscape.ufm import HParams, Params, UFMData, mask_params, tree_norm  # noqa: F401 (tree_norm: re-exported)

# Views of the optimiser registry (nclandscape.optimizers), aliases included.
DEFAULT_LR = {name: optimizer_spec(name).lr for name in optimizer_names()}
# Optimisers whose learning rate plays no role (line search / trust region).
LR_FREE = tuple(name for name in optimizer_names() if optimizer_spec(name).lr_free)

STATUS_OK, STATUS_DIVERGED, STATUS_NOT_CONVERGED, STATUS_STATIONARY = 0, 1, 2, 3
STATUS_NAMES = ("ok", "diverged", "not_converged", "stationary")

# The stopping rule (docs/solvers.md). A run stops, ``ok``, when
#     ||∇f|| <= tol * λ_s,   λ_s = min(λ_W, λ_H) (1 when that is 0),
# i.e. ``tol`` bounds the distance to a critical point of a λ_s-strongly convex model, and its
# value gap by tol² λ_s / 2. Where the closed-form f* is known a finished run is ``ok`` only if
# also |f − f*| <= GAP_RTOL · max(|f*|, GAP_FLOOR); otherwise it is ``stationary`` (a critical
# point to tolerance that is not the global minimum, or a run whose accuracy the dtype cannot
# certify).
DEFAULT_TOL = {"float64": 1e-6, "float32": 1e-2}
GAP_RTOL = {"float64": 1e-8, "float32": 1e-4}
GAP_FLOOR = {"float64": 1e-12, "float32": 1e-6}


def check_optimizer(name: str) -> str:
    """The canonical name of an optimiser name or alias (:mod:`nclandscape.optimizers`); ConfigError
    naming the choices if it is unknown."""
    return optimizer_spec(name).name


def init_opt_state(opt, name: str, params, lr):
    state = opt.init(params)
    if not optimizer_spec(name).lr_free:
        hp = dict(state.hyperparams)
        hp["learning_rate"] = jnp.asarray(lr, hp["learning_rate"].dtype)
        state = state._replace(hyperparams=hp)
    return state


class SolveState(NamedTuple):
    params: Params
    opt_state: Any
    step: jax.Array
    value: jax.Array
    grad: Params
    grad_norm: jax.Array


class SolveResult(NamedTuple):
    params: Params
    value: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    status: jax.Array  # STATUS_OK / STATUS_DIVERGED / STATUS_NOT_CONVERGED


class Solver(NamedTuple):
    """An iterative method as two pure functions: ``init(params0) -> SolveState`` and
    ``step(SolveState) -> SolveState`` (one iteration). :func:`run_solver` loops them with the
    stopping rule; the sweep engine runs the same pair with slot refilling."""

    init: Callable
    step: Callable


def default_tol(dtype) -> float:
    """The default relative tolerance ``tol`` of the stopping rule for a dtype."""
    return DEFAULT_TOL[jnp.dtype(dtype).name]


def lambda_scale(hparams: HParams):
    """λ_s = min(λ_W, λ_H), or 1 when that is 0: the curvature scale of the stopping rule."""
    lam = jnp.minimum(hparams.lambda_W, hparams.lambda_H)
    return jnp.where(lam > 0, lam, jnp.ones_like(lam))


def grad_tolerance(tol, hparams: HParams):
    """The gradient-norm threshold ``tol * λ_s`` of the stopping rule (``tol`` relative)."""
    return tol * lambda_scale(hparams)


def certify(status, value, f_star, dtype):
    """The final status of a run given the closed-form minimum ``f_star`` (None or NaN: unknown):
    an ``ok`` run whose value is not within GAP_RTOL of f* becomes ``stationary``. Works on
    Python scalars and arrays alike."""
    import math

    if f_star is None:
        return status
    name = jnp.dtype(dtype).name
    if isinstance(status, str):
        if status != "ok" or math.isnan(f_star):
            return status
        bad = abs(value - f_star) > GAP_RTOL[name] * max(abs(f_star), GAP_FLOOR[name])
        return "stationary" if bad else status
    bad = jnp.abs(value - f_star) > GAP_RTOL[name] * jnp.maximum(jnp.abs(f_star), GAP_FLOOR[name])
    return jnp.where((status == STATUS_OK) & bad & jnp.isfinite(f_star), STATUS_STATIONARY, status)


def start_state(params0, opt_state, value, grad) -> SolveState:
    """The :class:`SolveState` at step 0 (an int32 step counter, as ``steps_max`` in the sweep)."""
    return SolveState(params0, opt_state, jnp.asarray(0, jnp.int32), value, grad, tree_norm(grad))


def make_step_fn(f, project, opt, name: str):
    """One optimiser step ``SolveState -> SolveState`` minimising ``f(params)``; ``project`` maps
    the updated parameters back to the feasible set (padding masks). Pure; returns
    ``(step, value_and_grad)``."""
    value_and_grad = jax.value_and_grad(f)
    line_search = optimizer_spec(name).line_search

    def step(s: SolveState) -> SolveState:
        if line_search:
            updates, opt_state = opt.update(s.grad, s.opt_state, s.params, value=s.value, grad=s.grad, value_fn=f)
        else:
            updates, opt_state = opt.update(s.grad, s.opt_state, s.params)
        params = project(optax.apply_updates(s.params, updates))
        value, grad = value_and_grad(params)
        return SolveState(params, opt_state, s.step + 1, value, grad, tree_norm(grad))

    return step, value_and_grad


def make_step(objective, data: UFMData, hparams: HParams, opt, name: str):
    """One optimiser step of ``objective(params, data, hparams)`` on the UFM parameters (pure)."""
    return make_step_fn(lambda p: objective(p, data, hparams), lambda p: mask_params(p, data), opt, name)


def optax_solver(f, *, optimizer: str, lr, project=lambda p: p) -> Solver:
    """The :class:`Solver` of an optax optimiser minimising ``f(params)``."""
    lr = optimizer_spec(optimizer).lr if lr is None else lr
    opt = make_optimizer(optimizer)
    step, value_and_grad = make_step_fn(f, project, opt, optimizer)

    def init(params0):
        params0 = project(params0)
        v0, g0 = value_and_grad(params0)
        return start_state(params0, init_opt_state(opt, optimizer, params0, lr), v0, g0)

    return Solver(init, step)


def newton_solver(objective, data: UFMData, hparams: HParams) -> Solver:
    """The :class:`Solver` of the exact damped Newton method (:mod:`nclandscape.newton`);
    ``objective`` must expose its per-sample loss (the objectives of :mod:`nclandscape.objectives`)."""
    from nclandscape import newton

    if not hasattr(objective, "bind"):
        raise ConfigError("the Newton solver needs an objective with a per-sample loss "
                          "(a registered loss: nclandscape.objectives.LOSSES / objective_for)")
    per_sample = objective.bind(hparams, data.class_mask)
    by_class = objective.class_curvature
    f = lambda p: objective(p, data, hparams)  # noqa: E731
    value_and_grad = jax.value_and_grad(f)

    def init(params0):
        params0 = mask_params(params0, data)
        v0, g0 = value_and_grad(params0)
        return start_state(params0, newton.newton_init(v0.dtype), v0, g0)

    def step(s: SolveState) -> SolveState:
        params, value, grad, ns = newton.newton_update(per_sample, value_and_grad, s.params, s.value, s.grad,
                                                       s.opt_state, data, hparams, by_class=by_class)
        return SolveState(params, ns, s.step + 1, value, grad, tree_norm(grad))

    return Solver(init, step)


def make_solver(objective, data: UFMData, hparams: HParams, *, optimizer: str, lr=None) -> Solver:
    """The :class:`Solver` of ``optimizer`` on ``objective(params, data, hparams)`` (masked)."""
    spec = optimizer_spec(optimizer)
    if spec.solver is not None:  # not an optax method
        return spec.solver(objective, data, hparams)
    return optax_solver(lambda p: objective(p, data, hparams), optimizer=optimizer, lr=lr,
                        project=lambda p: mask_params(p, data))


def keep_going(s: SolveState, max_steps, gtol):
    """The stopping rule's negation: not yet converged, finite, and steps left."""
    return (s.step < jnp.asarray(max_steps, s.step.dtype)) & (s.grad_norm > gtol) & jnp.isfinite(s.value) & jnp.isfinite(s.grad_norm)


def final_status(s: SolveState, gtol):
    finite = jnp.isfinite(s.value) & jnp.isfinite(s.grad_norm)
    return jnp.where(~finite, STATUS_DIVERGED, jnp.where(s.grad_norm <= gtol, STATUS_OK, STATUS_NOT_CONVERGED))


def run_solver(solver: Solver, params0, *, max_steps, gtol) -> SolveResult:
    """Loop ``solver`` from ``params0`` until ``||∇f|| <= gtol`` (absolute), a non-finite value, or
    ``max_steps`` iterations; pure and jittable, each vmapped lane stops on its own."""
    s = jax.lax.while_loop(lambda s: keep_going(s, max_steps, gtol), solver.step, solver.init(params0))
    return SolveResult(s.params, s.value, s.grad_norm, s.step, final_status(s, gtol))


def minimize(f, params0, *, optimizer: str, lr, max_steps, gtol, project=lambda p: p) -> SolveResult:
    """The early-stopping loop of an optax optimiser on ``f(params)`` from ``params0`` (used by the
    reduced dynamics); ``gtol`` is the absolute gradient-norm threshold (see :func:`grad_tolerance`).
    Pure and jittable (``lr``, ``max_steps`` and ``gtol`` may be traced; ``optimizer`` is static)."""
    return run_solver(optax_solver(f, optimizer=optimizer, lr=lr, project=project), params0,
                      max_steps=max_steps, gtol=gtol)


def solve(
    objective,
    params0: Params,
    data: UFMData,
    hparams: HParams,
    *,
    optimizer: str = DEFAULT_OPTIMIZER,
    lr=None,
    max_steps=1000,
    tol=None,
) -> SolveResult:
    """Minimise ``objective(params, data, hparams)`` from ``params0``; pure and jittable.

    Stops when ``||∇f|| <= tol * λ_s`` (see :func:`grad_tolerance`; ``tol`` defaults to
    :data:`DEFAULT_TOL` of the dtype). ``lr``, ``max_steps`` and ``tol`` may be traced arrays
    (vmappable); ``optimizer`` is static.
    """
    tol = default_tol(data.Y.dtype) if tol is None else tol
    solver = make_solver(objective, data, hparams, optimizer=optimizer, lr=lr)
    return run_solver(solver, params0, max_steps=max_steps, gtol=grad_tolerance(tol, hparams))


def solve_problem(problem, *, optimizer=DEFAULT_OPTIMIZER, lr=None, steps=1000, seed=0, scale=1.0, tol=None, dtype=None) -> dict:
    """Solve one :class:`~nclandscape.ufm.Problem` and report value, gap to theory and NC metrics.

    The dict has the keys of the ``nclandscape solve --json`` contract.
    """
    from nclandscape.metrics import nc_metrics
    from nclandscape.objectives import objective_for
    from nclandscape.ufm import init_params

    spec = optimizer_spec(optimizer)
    dtype = dtype or jnp.zeros(()).dtype
    data = problem.data(dtype=dtype)
    hp = problem.hparams(dtype=dtype)
    objective = objective_for(problem.loss)
    lr = spec.lr if lr is None else lr
    tol = default_tol(dtype) if tol is None else tol

    @jax.jit
    def run(key, lr, tol):
        p0 = init_params(key, data, scale=scale)
        r = solve(objective, p0, data, hp, optimizer=optimizer, lr=lr, max_steps=steps, tol=tol)
        m = nc_metrics(r.params.W, r.params.H, r.params.b * data.bias, data.Y)
        return r, m

    (r, m), elapsed = run_timed(run, jax.random.PRNGKey(seed), jnp.asarray(lr, dtype), jnp.asarray(tol, dtype))
    out = report(problem, r, m, optimizer=optimizer, lr=lr, seed=seed, dtype=dtype, time_s=elapsed)
    out["_params"] = r.params
    return out


def run_timed(fn, *args):
    """``(fn(*args), seconds)`` with ``fn`` jitted and compiled first: the time excludes compilation."""
    import time

    compiled = fn.lower(*args).compile()
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t0


def report(problem, r: SolveResult, metrics, *, optimizer, lr, seed, dtype, time_s) -> dict:
    """The ``solve --json`` dict of a finished run (full or reduced dynamics)."""
    from nclandscape.theory import theory_applies, theory_for

    out = {
        "objective": float(r.value),
        "grad_norm": float(r.grad_norm),
        "f_star": None,
        "gap": None,
        "regime": None,
        **{k: float(v) for k, v in metrics._asdict().items()},
        "steps": int(r.steps),
        "status": STATUS_NAMES[int(r.status)],
        "optimizer": optimizer,
        "lr": float(lr),
        "seed": int(seed),
        "dtype": jnp.dtype(dtype).name,
        "time_s": time_s,
    }
    if theory_applies(problem):
        th = theory_for(problem)
        out.update(f_star=th["f_star"], gap=out["objective"] - th["f_star"], regime=th["regime"])
        out["status"] = certify(out["status"], out["objective"], th["f_star"], dtype)
    return out
