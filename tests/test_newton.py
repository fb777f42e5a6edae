"""The exact damped Newton solver: its linear algebra against dense float64 Hessians, convergence
to the closed forms of THEORY.md §2–2b on random problems, saddle escape (THEORY.md §3), padding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape import newton
from nclandscape.hessian.critical import saddle_point
from nclandscape.objectives import objective_for
from nclandscape.solve import solve, tree_norm
from nclandscape.theory import ce_global_min, mse_global_min
from nclandscape.ufm import Params, Problem, init_params, make_data, make_hparams, mask_params

from tests._problems import random_padded_problems


def _flat(p: Params):
    return jnp.concatenate([p.W.reshape(-1), p.H.reshape(-1), p.b])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "rescaled_mse", "ce"])
def test_damped_step_solves_the_dense_system(loss):
    """The Schur-complement step equals the dense solve of (∇²f + μI) p = −∇f (float64, padded
    random problems; padded entries of the step are zero)."""
    obj = objective_for(loss)
    for data, hp, p0 in random_padded_problems(3, (4, 9, 5), loss=loss, n_problems=3):
        per = obj.bind(hp, data.class_mask)
        f = lambda p: obj(p, data, hp)  # noqa: E731
        g = jax.grad(f)(p0)
        # dense reference on the real (unpadded) coordinates
        mask = _flat(mask_params(Params(*(jnp.ones_like(x) for x in p0)), data)) > 0
        flat0 = _flat(p0)
        unflat = lambda v: Params(v[: p0.W.size].reshape(p0.W.shape),  # noqa: E731
                                  v[p0.W.size: p0.W.size + p0.H.size].reshape(p0.H.shape), v[p0.W.size + p0.H.size:])
        Hd = jax.hessian(lambda v: f(unflat(v)))(flat0)
        idx = np.flatnonzero(np.asarray(mask))
        Hr = np.asarray(Hd)[np.ix_(idx, idx)]
        lo = np.linalg.eigvalsh(Hr)[0]
        for mu in (max(0.0, -lo) + 0.05, max(0.0, -lo) * 0.5):  # positive definite, then indefinite
            cv = newton.curvature(per, p0, data, hp, by_class=obj.class_curvature)
            step, ok, pred = newton.damped_newton_step(cv, g, data, hp, mu)
            if lo + mu <= 0:
                assert not bool(ok)  # the factorisation detects the negative curvature
        mu = max(0.0, -lo) + 0.05
        cv = newton.curvature(per, p0, data, hp, by_class=obj.class_curvature)
        step, ok, pred = newton.damped_newton_step(cv, g, data, hp, mu)
        assert bool(ok)
        A = Hr + mu * np.eye(len(idx))
        ref = np.linalg.solve(A, -np.asarray(_flat(g))[idx])
        got = np.asarray(_flat(step))
        np.testing.assert_allclose(got[idx], ref, rtol=1e-9, atol=1e-12)  # float64 solves of a well-posed system
        assert np.all(got[~np.asarray(mask)] == 0)
        gp = float(_flat(g)[idx] @ ref)
        assert float(pred) == pytest.approx(0.5 * (-gp + mu * float(ref @ ref)), rel=1e-9)


def _batch(loss, K, n, d, bias, lams, seeds, alpha=1.0, M=1.0):
    """Solve every (λ_W, λ_H, λ_b) × seed with newton in one compiled program; ‖∇f‖ ≤ 1e-10."""
    data = make_data(K, n, d, bias=bias)
    obj = objective_for(loss)
    lw, lh, lb = (jnp.asarray([l[i] for l in lams for _ in seeds]) for i in range(3))
    keys = jnp.stack([jax.random.PRNGKey(s) for _ in lams for s in seeds])

    def one(lw, lh, lb, key):
        hp = make_hparams(lw, lh, lb, alpha, M)
        tol = 1e-10 / jnp.minimum(lw, lh)  # gradient threshold tol·λ_s = 1e-10
        return solve(obj, init_params(key, data), data, hp, optimizer="newton", max_steps=200, tol=tol)

    return jax.jit(jax.vmap(one))(lw, lh, lb, keys)


def _random_lambdas(rng, k):
    return [tuple(10 ** rng.uniform(-6, -1, 3)) for _ in range(k)]


@pytest.mark.slow
@pytest.mark.parametrize("K,n,d,bias", [(5, 3, 2, True), (5, 3, 4, True), (5, 3, 7, True), (5, 3, 4, False)])
def test_newton_reaches_mse_global_minimum(K, n, d, bias):
    """d < K−1, d = K−1, d ≥ K and no bias, λ from 1e-6 to 1e-1: ‖∇f‖ ≤ 1e-10 in ≤ 200 iterations
    and f = f* of the closed form to 1e-9 relative."""
    rng = np.random.default_rng(K * 100 + d + 7 * bias)
    lams = _random_lambdas(rng, 4) + [(1e-6, 1e-6, 1e-6), (1e-1, 1e-1, 1e-1)]
    r = _batch("mse", K, n, d, bias, lams, seeds=(0, 1))
    assert np.all(np.asarray(r.status) == 0), np.asarray(r.steps)
    assert np.all(np.asarray(r.grad_norm) <= 1e-10) and np.all(np.asarray(r.steps) <= 200)
    f_star = np.repeat([mse_global_min(K, n, d, *l, bias=bias).f_star for l in lams], 2)
    np.testing.assert_allclose(np.asarray(r.value), f_star, rtol=1e-9)


@pytest.mark.slow
def test_newton_rescaled_mse_and_ce():
    """Rescaled MSE (no closed form: stationarity to 1e-10) and CE for d = K−1, d ≥ K, whose f*
    is THEORY.md §2b's (to 1e-9 relative); all within 200 iterations."""
    rng = np.random.default_rng(11)
    lams = _random_lambdas(rng, 3) + [(1e-6, 1e-6, 1e-6)]
    r = _batch("rescaled_mse", 4, 3, 5, True, lams, seeds=(0, 1), alpha=2.5, M=3.0)
    assert np.all(np.asarray(r.status) == 0) and np.all(np.asarray(r.grad_norm) <= 1e-10)
    assert np.all(np.asarray(r.steps) <= 200)
    lams = _random_lambdas(rng, 3) + [(1e-3, 1e-3, 1e-3)]
    lams = [(max(a, 1e-4), max(b, 1e-4), c) for a, b, c in lams]  # CE's minimiser norm grows like log(1/λ)
    for d in (3, 5):
        r = _batch("ce", 4, 3, d, True, lams, seeds=(0,))
        assert np.all(np.asarray(r.status) == 0) and np.all(np.asarray(r.steps) <= 200), np.asarray(r.steps)
        f_star = [ce_global_min(4, 3, d, *l).f_star for l in lams]
        np.testing.assert_allclose(np.asarray(r.value), f_star, rtol=1e-9)


@pytest.mark.slow
def test_newton_escapes_a_strict_saddle():
    """Started at a no-bias strict saddle of THEORY.md §3 plus a 1e-8 perturbation, newton leaves
    it (f falls below the saddle's value) and reaches the global minimum."""
    pr = Problem(K=4, n=3, d=5, lambda_W=1e-2, lambda_H=1e-2, bias=False)
    data, hp = pr.data(), pr.hparams()
    p, pred_eig, is_global = saddle_point(pr, (0, 2))
    assert not is_global and pred_eig < 0
    f = objective_for("mse")
    f_saddle = float(f(p, data, hp))
    assert float(tree_norm(jax.grad(f)(p, data, hp))) < 1e-12  # a critical point indeed
    rng = np.random.default_rng(0)
    start = jax.tree_util.tree_map(lambda x: x + 1e-8 * jnp.asarray(rng.standard_normal(x.shape)), p)
    r = jax.jit(lambda s: solve(f, s, data, hp, optimizer="newton", max_steps=200, tol=1e-10 / 1e-2))(start)
    f_star = mse_global_min(4, 3, 5, 1e-2, 1e-2, 0.0, bias=False).f_star
    assert int(r.status) == 0 and float(r.grad_norm) <= 1e-10
    assert f_star < f_saddle - 1e-3
    assert float(r.value) == pytest.approx(f_star, rel=1e-9)


@pytest.mark.slow
def test_newton_padding_changes_nothing():
    """A problem solved alone and padded to a larger shape: the same objective to 1e-12 relative
    and the same status (the padded entries stay zero)."""
    pr = Problem(K=4, n=3, d=3, lambda_W=3e-4, lambda_H=1e-3, lambda_b=1e-2)
    f = objective_for("mse")
    out = []
    for pad in (None, (5, 14, 5)):
        data, hp = pr.data(pad_to=pad), pr.hparams()
        r = jax.jit(lambda k: solve(f, init_params(k, data), data, hp, optimizer="newton", max_steps=200))(
            jax.random.PRNGKey(3))
        if pad:
            assert np.all(np.asarray(r.params.W)[4:] == 0) and np.all(np.asarray(r.params.H)[:, 12:] == 0)
        out.append((int(r.status), float(r.value)))
    assert out[0][0] == out[1][0] == 0
    assert out[1][1] == pytest.approx(out[0][1], rel=1e-12)


@pytest.mark.slow
def test_rebalance_keeps_the_product_and_minimises_the_penalty():
    """(W, H) -> (W G, G⁻¹H): W H unchanged, and λ_W‖W‖² + λ_H‖H‖² equals its minimum over
    factorisations, 2√(λ_W λ_H)‖W H‖_* (float64, d > K so the product is rank deficient)."""
    data = make_data(3, 2, 5)
    hp = make_hparams(2e-3, 5e-2, 1e-2)
    p = init_params(jax.random.PRNGKey(1), data)
    q = newton.rebalance(p, data, hp)
    np.testing.assert_allclose(np.asarray(q.W @ q.H), np.asarray(p.W @ p.H), rtol=1e-12, atol=1e-12)
    pen = float(hp.lambda_W * jnp.sum(q.W**2) + hp.lambda_H * jnp.sum(q.H**2))
    nuc = np.linalg.svd(np.asarray(p.W @ p.H), compute_uv=False).sum()
    assert pen == pytest.approx(2 * np.sqrt(2e-3 * 5e-2) * nuc, rel=1e-12)
