"""Brute-force float64 minimisation used as the independent reference for the closed forms."""
import jax
import jax.numpy as jnp

from nclandscape.objectives import objective_for
from nclandscape.solve import solve
from nclandscape.ufm import init_params


def brute_force_min(problem, *, seeds=(0, 1), steps=20000, tol=1e-12, scale=0.3):
    """Best L-BFGS (float64, strong-Wolfe zoom line search) value over a few random starts."""
    data = problem.data(dtype=jnp.float64)
    hp = problem.hparams(dtype=jnp.float64)
    obj = objective_for(problem.loss)

    @jax.jit
    def run(key):
        return solve(obj, init_params(key, data, scale=scale), data, hp, optimizer="lbfgs", max_steps=steps, tol=tol)

    results = [run(jax.random.PRNGKey(s)) for s in seeds]
    best = min(results, key=lambda r: float(r.value))
    return float(best.value), best
