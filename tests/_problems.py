"""Shared test helpers: random padded UFM problems, and sweep tables as row dicts."""
import jax.numpy as jnp
import numpy as np

from nclandscape.ufm import Params, Problem, make_data, make_hparams, mask_params


def random_padded_problems(seed, pad, *, loss="mse", n_problems=3, lambdas=(1e-3, 3e-2), random_target=False):
    """``[(data, hparams, params0)]``: random K, d, unbalanced class sizes and bias, padded into
    the bucket ``pad = (K, N, d)``, with a scale-0.5 Gaussian start. Rescaled MSE draws α in
    [1, 3] and M in [1, 2]; vanilla MSE uses M = 1, or M in [0.5, 2] with ``random_target``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_problems):
        K = int(rng.integers(2, pad[0] + 1))
        d = int(rng.integers(2, pad[2] + 1))
        sizes = [int(s) for s in rng.integers(1, pad[1] // K + 1, K)]
        data = make_data(K, 0, d, class_sizes=sizes, bias=bool(rng.integers(2)), pad_to=pad)
        alpha, M = (rng.uniform(1.0, 3.0), rng.uniform(1.0, 2.0)) if loss == "rescaled_mse" else (1.0, 1.0)
        lams = rng.uniform(*lambdas, 3)
        if random_target and loss == "mse":
            M = float(rng.uniform(0.5, 2.0))
        hp = make_hparams(*lams, alpha, M)
        p0 = Params(*(jnp.asarray(0.5 * rng.standard_normal(s)) for s in ((pad[0], pad[2]), (pad[2], pad[1]), (pad[0],))))
        out.append((data, hp, mask_params(p0, data)))
    return out


def sweep_rows(out_dir):
    """The rows of a sweep's results table, as dicts."""
    from nclandscape.sweep import read_results

    t = read_results(out_dir).to_pydict()
    return [dict(zip(t, vals)) for vals in zip(*t.values())]


def row_problem(r) -> Problem:
    """The :class:`Problem` of a sweep row."""
    return Problem(K=r["K"], n=r["n"], d=r["d"], lambda_W=r["lambda_W"], lambda_H=r["lambda_H"],
                   lambda_b=r["lambda_b"], bias=r["bias"], loss=r["loss"], alpha=r["alpha"], M=r["M"])
