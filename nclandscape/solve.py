"""Single-problem solver: GD, heavy-ball, Nesterov, Adam and L-BFGS (optax), with early stopping.

``solve(objective, params0, data, hparams, config)`` is pure and jittable; all of its numbers
(learning rate included, through ``optax.inject_hyperparams``) are arrays, so the sweep engine
vmaps it over configurations. The loop is a ``lax.while_loop`` that stops on ``||∇f|| <= tol``,
on a non-finite value (diverged) or after ``max_steps``; under ``vmap`` every configuration keeps
its own stopping step.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from nclandscape.errors import ConfigError
from nclandscape.ufm import HParams, Params, UFMData, mask_params

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "lbfgs")
DEFAULT_LR = {"gd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3, "lbfgs": 1.0}

STATUS_OK, STATUS_DIVERGED, STATUS_NOT_CONVERGED = 0, 1, 2
STATUS_NAMES = ("ok", "diverged", "not_converged")


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer={name!r} is not allowed: choose one of {', '.join(OPTIMIZERS)}")
    return name


def make_optimizer(name: str, *, momentum: float = 0.9, memory_size: int = 10) -> optax.GradientTransformation:
    """The optax transformation of an optimiser name; its learning rate is an injected
    hyper-parameter (set per configuration by :func:`init_opt_state`). L-BFGS uses a zoom line
    search (strong Wolfe) and ignores the learning rate."""
    check_optimizer(name)
    if name == "gd":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
    if name == "momentum":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=momentum)
    if name == "nesterov":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=momentum, nesterov=True)
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    return optax.lbfgs(
        memory_size=memory_size,
        linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=30, verbose=False),
    )


def init_opt_state(opt, name: str, params, lr):
    state = opt.init(params)
    if name != "lbfgs":
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


def tree_norm(tree):
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree)))


def default_tol(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


def make_step_fn(f, project, opt, name: str):
    """One optimiser step ``SolveState -> SolveState`` minimising ``f(params)``; ``project`` maps
    the updated parameters back to the feasible set (padding masks). Pure; returns
    ``(step, value_and_grad)``."""
    value_and_grad = jax.value_and_grad(f)

    def step(s: SolveState) -> SolveState:
        if name == "lbfgs":
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


def minimize(f, params0, *, optimizer: str, lr, max_steps, tol, dtype, project=lambda p: p) -> SolveResult:
    """The early-stopping loop shared by :func:`solve` and the reduced dynamics: minimise
    ``f(params)`` from ``params0`` with an optax optimiser; pure and jittable (``lr``,
    ``max_steps`` and ``tol`` may be traced; ``optimizer`` is static)."""
    check_optimizer(optimizer)
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    tol = default_tol(dtype) if tol is None else tol
    opt = make_optimizer(optimizer)
    step, value_and_grad = make_step_fn(f, project, opt, optimizer)
    params0 = project(params0)
    v0, g0 = value_and_grad(params0)
    s0 = SolveState(params0, init_opt_state(opt, optimizer, params0, lr), jnp.asarray(0), v0, g0, tree_norm(g0))

    def cond(s):
        return (s.step < max_steps) & (s.grad_norm > tol) & jnp.isfinite(s.value) & jnp.isfinite(s.grad_norm)

    s = jax.lax.while_loop(cond, step, s0)
    finite = jnp.isfinite(s.value) & jnp.isfinite(s.grad_norm)
    status = jnp.where(~finite, STATUS_DIVERGED, jnp.where(s.grad_norm <= tol, STATUS_OK, STATUS_NOT_CONVERGED))
    return SolveResult(s.params, s.value, s.grad_norm, s.step, status)


def solve(
    objective,
    params0: Params,
    data: UFMData,
    hparams: HParams,
    *,
    optimizer: str = "lbfgs",
    lr=None,
    max_steps=1000,
    tol=None,
) -> SolveResult:
    """Minimise ``objective(params, data, hparams)`` from ``params0``; pure and jittable.

    ``lr``, ``max_steps`` and ``tol`` may be traced arrays (vmappable); ``optimizer`` is static.
    """
    return minimize(lambda p: objective(p, data, hparams), params0, optimizer=optimizer, lr=lr,
                    max_steps=max_steps, tol=tol, dtype=data.Y.dtype, project=lambda p: mask_params(p, data))


def solve_problem(problem, *, optimizer="lbfgs", lr=None, steps=1000, seed=0, scale=1.0, tol=None, dtype=None) -> dict:
    """Solve one :class:`~nclandscape.ufm.Problem` and report value, gap to theory and NC metrics.

    The dict has the keys of the ``nclandscape solve --json`` contract.
    """
    from nclandscape.metrics import nc_metrics
    from nclandscape.objectives import objective_for
    from nclandscape.ufm import init_params

    check_optimizer(optimizer)
    dtype = dtype or jnp.zeros(()).dtype
    data = problem.data(dtype=dtype)
    hp = problem.hparams(dtype=dtype)
    objective = objective_for(problem.loss)
    lr = DEFAULT_LR[optimizer] if lr is None else lr
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
    return out
