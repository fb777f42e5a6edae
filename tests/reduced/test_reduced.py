"""Exact class-reduced dynamics (nclandscape.reduced) against the full UFM engine, in float64.

The reference is always the full simulation (``nclandscape.solve.solve`` on ``Params``) or a
closed form of THEORY.md. Problems are random (K, d, unbalanced class sizes, bias or not) padded
into one bucket shape, so each jitted function compiles once for all of them (kept in a module
cache across tests) and the padding path is exercised too.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from _problems import random_padded_problems

from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics
from nclandscape.objectives import mse_objective
from nclandscape.reduced import (
    balanced_reduced_data, class_scatter, expand_params, make_reduced_data, pad_reduced, reduce_data, reduce_params, reduced_init,
    reduced_metrics, reduced_objective, reduced_solve, reducible, resolve_dynamics, solve_problem_reduced,
)
from nclandscape.solve import solve, solve_problem, tree_norm
from nclandscape.ufm import Params, Problem, init_params, make_data, make_hparams, mask_params

PAD = (6, 48, 9)  # (K, N, d) bucket holding every random problem below
SEEDS = {"mse": 11, "rescaled_mse": 12}


def _random_problems(seed, loss, n_problems=3, lambdas=(1e-3, 3e-2)):
    """Random padded problems, hyper-parameters and starting points (scale 0.5)."""
    return random_padded_problems(seed, PAD, loss=loss, n_problems=n_problems, lambdas=lambdas)


@functools.cache
def _reducer(loss):
    def reduce(p0, data):
        rp0, basis = reduce_params(p0, data, loss=loss)
        return rp0, basis, reduce_data(data, basis)

    return jax.jit(reduce)


@functools.cache
def _pair(loss, optimizer, lr, steps):
    """Full and reduced runs from the same start, and the reconstruction; compiled once."""

    def both(p0, data, hp, rp0, basis, rdata):
        full = solve(mse_objective, p0, data, hp, optimizer=optimizer, lr=lr, max_steps=steps, tol=0.0)
        red = reduced_solve(rp0, rdata, hp, loss=loss, optimizer=optimizer, lr=lr, max_steps=steps, tol=0.0)
        return full, red, expand_params(red.params, basis, data)

    return jax.jit(both)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "rescaled_mse"])
def test_reduction_is_an_isometry_onto_the_dynamics(loss):
    """Reconstruction, objective and gradient at a random point: the full H-gradient is the
    expansion of the reduced gradient (it lies in the image), and gradient norms agree."""

    @jax.jit
    def errors(p0, data, hp, rp0, basis, rdata):
        rec = expand_params(rp0, basis, data)
        f_full, g_full = jax.value_and_grad(mse_objective)(p0, data, hp)
        f_red, g_red = jax.value_and_grad(reduced_objective)(rp0, rdata, hp)
        g_full = mask_params(g_full, data)
        g_exp = expand_params(g_red, basis, data)
        return jnp.array([jnp.max(jnp.abs(rec.H - p0.H)), jnp.abs(f_full - f_red),
                          jnp.max(jnp.abs(g_exp.H - g_full.H)), jnp.max(jnp.abs(g_red.W - g_full.W)),
                          jnp.abs(tree_norm(g_red) - tree_norm(g_full))])

    for data, hp, p0 in _random_problems(SEEDS[loss], loss):
        errs = errors(p0, data, hp, *_reducer(loss)(p0, data))
        # float64 rounding of O(1) quantities through an SVD and a few matrix products: 1e-12 is
        # ~4500 eps, far below any structural error (which would be O(1)).
        assert float(jnp.max(errs)) < 1e-12, errs
    # Autodiff of the closed form against finite differences (first and second order).
    rp0, _, rdata = _reducer(loss)(p0, data)
    check_grads(jax.jit(lambda rp: reduced_objective(rp, rdata, hp)), (rp0,), order=2, modes=["rev"])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "rescaled_mse"])
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov", "lbfgs"])
def test_reduced_trajectory_equals_full(loss, optimizer):
    """200 steps of the same optimiser: objective, W, b and reconstructed features agree to 1e-10.

    tol = 0 forces all 200 steps. L-BFGS problems use λ in [1e-2, 5e-2], where it converges well
    within 200 steps and then stays put; in slowly converging problems L-BFGS amplifies rounding
    differences of the full engine itself (see the next test).
    """
    lr = {"gd": 0.3, "momentum": 0.05, "nesterov": 0.05, "lbfgs": 1.0}[optimizer]
    lambdas = (1e-2, 5e-2) if optimizer == "lbfgs" else (1e-3, 3e-2)
    run = _pair(loss, optimizer, lr, 200)
    for data, hp, p0 in _random_problems(SEEDS[loss], loss, lambdas=lambdas):
        full, red, rec = run(p0, data, hp, *_reducer(loss)(p0, data))
        assert int(full.steps) == int(red.steps) == 200
        assert np.isfinite(float(full.value)) and float(full.value) < float(mse_objective(p0, data, hp))
        # 1e-10 absolute on O(1) entries (the target accuracy): 200 steps of float64 rounding
        # accumulate to ~2e-15 (GD, momentum, Nesterov) and ~1e-12 (L-BFGS) here; a wrong update
        # would be O(lr · gradient).
        errs = [abs(float(full.value - red.value)), float(jnp.max(jnp.abs(full.params.W - rec.W))),
                float(jnp.max(jnp.abs(full.params.b - rec.b))), float(jnp.max(jnp.abs(full.params.H - rec.H)))]
        assert max(errs) < 1e-10, errs


@pytest.mark.slow
def test_lbfgs_reduced_is_as_reproducible_as_the_full_engine():
    """Slowly converging rescaled-MSE problems (λ ~ 1e-3): L-BFGS's zoom line search and curvature
    pairs amplify rounding differences, so the full engine does not reproduce itself to 1e-10 after
    200 steps once the samples are merely stored in reverse order (same mathematics, another
    summation order). The reduced run stays as close to the full one as that."""
    loss = "rescaled_mse"
    run = _pair(loss, "lbfgs", 1.0, 200)
    full_rev = jax.jit(lambda p, data, hp: solve(mse_objective, p, data, hp, optimizer="lbfgs", max_steps=200, tol=0.0))
    for data, hp, p0 in _random_problems(5, loss, lambdas=(5e-4, 2e-3)):
        full, red, rec = run(p0, data, hp, *_reducer(loss)(p0, data))
        rev = full_rev(p0._replace(H=p0.H[:, ::-1]), data._replace(Y=data.Y[:, ::-1], sample_mask=data.sample_mask[::-1]), hp)
        own = float(jnp.max(jnp.abs(full.params.W - rev.params.W)))
        err = float(jnp.max(jnp.abs(full.params.W - rec.W)))
        # Factor 10: the two rounding perturbations are of the same size, their amplified effects
        # differ by a random O(1) factor (measured ratios 0.5-2.3; largest gaps 6.6e-10, 1.5e-9).
        assert err <= max(1e-10, 10 * own), (err, own)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "rescaled_mse"])
def test_reduced_metrics_equal_full_metrics(loss):
    """NC1-NC4, numerical rank and min cosine margin from the reduced state equal nc_metrics of the
    full features, at the random start and after 150 GD steps (partially collapsed)."""

    @jax.jit
    def metrics(data, hp, rp0, basis, rdata):
        red = reduced_solve(rp0, rdata, hp, loss=loss, optimizer="gd", lr=0.5, max_steps=150, tol=0.0).params
        out = []
        for rp in (rp0, red):
            p = expand_params(rp, basis, data)
            full = nc_metrics(p.W, p.H, p.b, data.Y, sample_mask=data.sample_mask, class_mask=data.class_mask,
                              dim=jnp.sum(data.dim_mask).astype(jnp.int32))
            out.append((full, reduced_metrics(rp, rdata, basis), reduced_metrics(rp, rdata)))
        return out

    for data, hp, p0 in _random_problems(SEEDS[loss] + 100, loss):
        for full, with_basis, without in metrics(data, hp, *_reducer(loss)(p0, data)):
            for name in full._fields:
                a, b = float(getattr(full, name)), float(getattr(with_basis, name))
                # Same formulas on second moments accumulated in another order: relative 1e-9
                # (NC1 divides by small Σ_B eigenvalues, which amplifies rounding).
                assert abs(a - b) <= 1e-9 * abs(a) + 1e-12, (name, a, b)
                c = float(getattr(without, name))
                if name in ("nc4", "min_cos_margin"):
                    assert np.isnan(c)
                else:
                    assert abs(c - b) <= 1e-12 * abs(b) + 1e-14, (name, b, c)  # identical arithmetic


@pytest.mark.slow
def test_padding_reduced_problem_changes_nothing():
    data, hp, p0 = _random_problems(3, "rescaled_mse", n_problems=1)[0]
    rp0, _, rdata = _reducer("rescaled_mse")(p0, data)
    rpp, rdp = pad_reduced(rp0, rdata, K=PAD[0] + 2, d=PAD[2] + 3)
    run = jax.jit(lambda rp, rd: reduced_solve(rp, rd, hp, loss="rescaled_mse", optimizer="nesterov", lr=0.05,
                                               max_steps=200, tol=0.0))
    a, b = run(rp0, rdata), run(rpp, rdp)
    assert abs(float(a.value - b.value)) < 1e-12  # rounding only: padded entries are exact zeros
    np.testing.assert_allclose(b.params.W[:PAD[0], :PAD[2]], a.params.W, rtol=0, atol=1e-12)
    assert float(jnp.max(jnp.abs(b.params.W[PAD[0]:]))) == 0.0 and float(jnp.max(jnp.abs(b.params.D[:, PAD[2]:]))) == 0.0


def test_refusals_say_why():
    assert reducible("mse", "gd") == (True, "")
    assert reducible("rescaled_mse", "lbfgs")[0]
    for loss, opt, word in [("ce", "gd", "cross-entropy"), ("mse", "adam", "adam")]:
        ok, why = reducible(loss, opt)
        assert not ok and word in why
    ok, why = reducible("mse", "gd", full_batch=False)
    assert not ok and "minibatch" in why
    assert resolve_dynamics("auto", "rescaled_mse", "nesterov") == "reduced"
    assert resolve_dynamics("auto", "ce", "lbfgs") == resolve_dynamics("auto", "mse", "adam") == "full"
    assert resolve_dynamics("full", "mse", "gd") == "full"
    with pytest.raises(ConfigError, match="not exact here: adam"):
        resolve_dynamics("reduced", "mse", "adam")
    with pytest.raises(ConfigError, match="auto, full, reduced"):
        resolve_dynamics("fast", "mse", "gd")
    data, hp, p0 = _random_problems(3, "mse", n_problems=1)[0]
    rp, _, rdata = _reducer("mse")(p0, data)
    with pytest.raises(ConfigError, match="adam"):
        reduced_solve(rp, rdata, hp, loss="mse", optimizer="adam")
    with pytest.raises(ConfigError, match="cross-entropy"):
        reduced_solve(rp, rdata, hp, loss="ce", optimizer="gd")
    with pytest.raises(ConfigError, match="per-class"):
        reduced_solve(rp, rdata, hp, loss="rescaled_mse", optimizer="gd")
    with pytest.raises(ConfigError, match="adam"):
        solve_problem_reduced(Problem(K=2, n=2, d=2), optimizer="adam")
    # Unknown class Grams (data reduced without its basis) make the numerical rank NaN, and
    # nothing else: NC1-NC3 do not read them.
    m_known, m_unknown = jax.jit(reduced_metrics)(rp, rdata), jax.jit(reduced_metrics)(rp, reduce_data(data))
    assert np.isnan(float(m_unknown.numerical_rank)) and np.isfinite(float(m_known.numerical_rank))
    assert [float(x) for x in m_unknown[:3]] == [float(x) for x in m_known[:3]]
    # The shared layout is exact only for alpha = 1: anything else is NaN, never a wrong number.
    assert np.isnan(float(jax.jit(reduced_objective)(rp, rdata, hp._replace(alpha=jnp.asarray(2.0)))))


@pytest.mark.slow
def test_reduced_init_layouts_agree_and_keep_W_b():
    """Direct sampling: W, b are the init_params draw; the shared factorisation reproduces every
    per-class scatter S_k = D G_k Dᵀ of the per-class draw (same key)."""
    sizes = [1, 3, 9, 200]
    rdata = make_reduced_data(4, 0, 6, class_sizes=sizes, pad_to=(5, 8))
    key = jax.random.PRNGKey(3)

    @jax.jit
    def draws(key):
        p = init_params(key, make_data(4, 0, 6, class_sizes=sizes, pad_to=(5, 213, 8)), scale=0.7)
        (rp_s, rd_s), (rp_c, rd_c) = (reduced_init(key, rdata, scale=0.7, loss=l) for l in ("mse", "rescaled_mse"))
        return p, rp_s, rp_c, class_scatter(rp_s, rd_s), class_scatter(rp_c, rd_c)

    p, rp_s, rp_c, Ss, Sc = draws(key)
    np.testing.assert_array_equal(rp_s.W, p.W)
    np.testing.assert_array_equal(rp_s.b, p.b)
    np.testing.assert_array_equal(rp_c.G, rp_s.G)
    # Scatter entries are O(200 · 0.49): 1e-11 absolute is ~1e3 eps of their size (SVD route).
    np.testing.assert_allclose(Ss, Sc, rtol=0, atol=1e-11)
    # Ranks: class sizes 1, 3, 9, 200 give deviation ranks min(n_k - 1, d) = 0, 2, 6, 6.
    ranks = [int(np.linalg.matrix_rank(np.asarray(S), tol=1e-9)) for S in Sc[:4]]
    assert ranks == [0, 2, 6, 6]
    assert float(jnp.max(jnp.abs(Sc[:, 6:, :]))) == 0.0 and float(jnp.max(jnp.abs(Sc[4]))) == 0.0


def _var_se(x):
    """5 empirical standard errors of the sample variance of each column of x."""
    dev2 = (x - x.mean(0)) ** 2
    return 5 * np.sqrt(dev2.var(0) / x.shape[0])


@pytest.mark.slow
def test_reduced_init_has_the_law_of_the_full_init():
    """Moments of the sampled state against the law of i.i.d. N(0, s²) features:
    M_k ~ N(0, s² I); S_k ~ s² Wishart_d(n_k − 1, I): E S = s² m I, Var S_ii = 2 m s⁴,
    Var S_ij = m s⁴ (i ≠ j). m = 3 < d uses Gaussian columns, m = 40 ≥ d Bartlett."""
    d, s, reps = 5, 0.5, 3000
    keys = jax.random.split(jax.random.PRNGKey(11), reps)

    def one(k, rd):
        rp, rd = reduced_init(k, rd, scale=s, loss="rescaled_mse")
        return class_scatter(rp, rd), rp.G

    sample = jax.jit(jax.vmap(one, in_axes=(0, None)))
    for m in (3, 40):
        S, Mv = sample(keys, make_reduced_data(2, m + 1, d))
        S, Mv = np.asarray(S).reshape(reps * 2, d, d), np.asarray(Mv).reshape(-1)
        # Tolerances: 5 standard errors of the Monte-Carlo estimate (false failure probability
        # ~1e-6 per check); a wrong law (e.g. m ± 1 degrees of freedom) is > 5 SE at m = 3.
        se_mean = lambda var: 5 * np.sqrt(var / S.shape[0])
        assert abs(Mv.mean()) < 5 * s / np.sqrt(Mv.size)
        assert abs((Mv**2).mean() - s**2) < 5 * s**2 * np.sqrt(2 / Mv.size)
        diag = S[:, np.arange(d), np.arange(d)]
        assert np.all(np.abs(diag.mean(0) - s**2 * m) < se_mean(2 * m * s**4))
        assert np.all(np.abs(diag.var(0) - 2 * m * s**4) < _var_se(diag))
        off = S[:, 0, 1:]
        assert np.all(np.abs(off.mean(0)) < se_mean(m * s**4))
        assert np.all(np.abs(off.var(0) - m * s**4) < _var_se(off))


@pytest.mark.slow
def test_huge_n_reaches_the_closed_form_minimum():
    """n = 10^6 per class (N = 4·10^6 samples, never materialised) with direct sampling: L-BFGS
    on the reduced state reaches the closed-form global minimum of THEORY.md §2."""
    p = Problem(K=4, n=10**6, d=6, lambda_W=1e-4, lambda_H=1e-4, lambda_b=1e-3)
    r = solve_problem_reduced(p, optimizer="lbfgs", steps=2000, seed=0, scale=0.1, dtype=jnp.float64)
    assert r["init"] == "direct" and r["dynamics"] == "reduced" and r["status"] == "ok"
    # f* ~ 0.24; converged to ||grad|| <= 1e-10 the gap is second order: rounding-level, 1e-12.
    assert abs(r["gap"]) < 1e-12
    assert r["nc1"] < 1e-15 and r["nc3"] < 1e-6  # collapse (NC1 ~ ||grad||², NC3 ~ ||grad||)
    assert np.isnan(r["nc4"]) and r["_params"] is None  # no samples, no reconstruction


@pytest.mark.slow
def test_solve_problem_reduced_matches_full_for_the_same_seed():
    p = Problem(K=3, n=5, d=4, lambda_W=5e-3, lambda_H=5e-3, lambda_b=1e-2)
    kw = dict(optimizer="gd", lr=0.5, steps=300, seed=2, scale=0.5, tol=0.0, dtype=jnp.float64)
    a, b = solve_problem(p, **kw), solve_problem_reduced(p, **kw)
    assert set(a) - {"_params"} <= set(b) and b["dynamics"] == "reduced" and b["init"] == "full"
    for k in ("objective", "grad_norm", "nc1", "nc2", "nc3", "nc4", "numerical_rank", "min_cos_margin"):
        assert abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k])), k  # rounding through 300 steps
    assert a["steps"] == b["steps"] and a["status"] == b["status"]
    np.testing.assert_allclose(b["_params"].H, a["_params"].H, rtol=0, atol=1e-10)


@pytest.mark.slow
def test_float32_stays_float32():
    data = make_data(3, 4, 5, dtype=jnp.float32)
    hp = make_hparams(dtype=jnp.float32)
    p0 = Params(jnp.ones((3, 5), jnp.float32), jnp.linspace(-1, 1, 60, dtype=jnp.float32).reshape(5, 12),
                jnp.zeros(3, jnp.float32))
    rdata32 = make_reduced_data(3, 10**5, 5, dtype=jnp.float32)

    @jax.jit
    def run(p0):
        rp, basis = reduce_params(p0, data)
        rdata = reduce_data(data, basis)
        r = reduced_solve(rp, rdata, hp, loss="mse", optimizer="momentum", max_steps=5)
        return r, reduced_metrics(r.params, rdata, basis), reduced_init(jax.random.PRNGKey(0), rdata32, loss="mse")

    r, m, init = run(p0)
    leaves = jax.tree_util.tree_leaves((r.params, r.value, m, init))
    assert all(x.dtype == jnp.float32 for x in leaves), {x.dtype for x in leaves}


def test_vmaps_over_learning_rates_with_one_compile():
    data, hp, p0 = _random_problems(4, "mse", n_problems=1)[0]
    rp, _, rdata = _reducer("mse")(p0, data)
    traces = []

    def run(lr, steps):
        traces.append(1)
        return reduced_solve(rp, rdata, hp, loss="mse", optimizer="nesterov", lr=lr, max_steps=steps, tol=0.0)

    f = jax.jit(jax.vmap(run))
    lrs, steps = jnp.array([0.01, 0.05, 0.1]), jnp.array([10, 20, 30])
    r = f(lrs, steps)
    f(lrs * 2, steps)
    assert len(traces) == 1
    assert list(np.asarray(r.steps)) == [10, 20, 30]
    one = jax.jit(lambda: run(0.05, 20))()
    assert abs(float(one.value - r.value[1])) < 1e-14  # the same arithmetic, batched


def test_balanced_reduced_data_from_traced_sizes():
    """The sweep's in-program constructor equals make_reduced_data (padded), one compile for all."""
    f = jax.jit(lambda K, n, d, bias: balanced_reduced_data(K, n, d, bias, K_max=6, d_max=9))
    for K, n, d, bias in [(2, 1, 3, True), (6, 10**6, 9, False), (4, 7, 1, True)]:
        got = f(K, n, d, 1.0 if bias else 0.0)
        want = make_reduced_data(K, n, d, bias=bias, pad_to=(6, 9))
        for name in ("sizes", "class_mask", "dim_mask", "bias"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        assert np.all(np.isnan(np.asarray(got.class_gram))) and np.all(np.isnan(np.asarray(want.class_gram)))
    assert f._cache_size() == 1
