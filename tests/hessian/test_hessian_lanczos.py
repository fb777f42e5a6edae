import pytest
"""Lanczos (full reorthogonalisation) and SLQ against eigh: prescribed spectra and UFM Hessians."""
import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.hessian import dense_spectrum, lanczos_eigh, lanczos_spectrum, slq
from nclandscape.hessian.lanczos import density
from nclandscape.objectives import objective_for
from nclandscape.theory import nobias_critical_point
from nclandscape.ufm import Params, Problem, init_params



def _matrix(eigs, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(eigs.size, eigs.size)))
    return jnp.asarray((Q * eigs) @ Q.T), jnp.asarray(rng.normal(size=eigs.size))


@pytest.mark.slow
def test_full_depth_reproduces_eigh_with_multiplicities():
    # repeated eigenvalues force Krylov breakdown after 102 steps; the restart must recover them all
    eigs = np.concatenate([np.linspace(-1, 2, 100), np.full(100, 0.5), np.full(100, 3.0)])
    A, v0 = _matrix(eigs, 0)
    r = jax.jit(lambda A, v: lanczos_eigh(lambda x: A @ x, v, 300))(A, v0)
    assert bool(jnp.all(r.valid))
    # full depth: T is similar to A up to rounding (~1e-15 · ‖A‖ per step, 300 steps)
    np.testing.assert_allclose(np.asarray(r.values), np.sort(eigs), atol=1e-10)


@pytest.mark.slow
def test_masked_subspace_and_more_steps_than_dimension():
    eigs = np.linspace(-2, 1, 120)
    A, v0 = _matrix(eigs, 1)
    mask = jnp.asarray(np.random.default_rng(2).random(120) < 0.4, A.dtype)
    idx = np.asarray(mask) > 0
    ref = np.linalg.eigvalsh(np.asarray(A)[np.ix_(idx, idx)])
    r = jax.jit(lambda A, v, m: lanczos_eigh(lambda x: A @ x, v, 120, mask=m))(A, v0, mask)
    n_ok = int(r.valid.sum())
    assert n_ok == idx.sum()  # steps beyond the subspace dimension are flagged invalid
    np.testing.assert_allclose(np.asarray(r.values)[:n_ok], ref, atol=1e-10)
    assert np.all(np.asarray(r.values)[n_ok:] > ref.max())  # sentinels sort last


def _householder_operator(eigs, seed, reflections=3):
    """``x -> Q diag(eigs) Qᵀ x`` with ``Q`` a product of random Householder reflections: an
    exactly orthogonal eigenbasis with O(P) matvecs (no P×P matrix)."""
    rng = np.random.default_rng(seed)
    us = [u / np.linalg.norm(u) for u in rng.normal(size=(reflections, eigs.size))]
    us = jnp.asarray(np.stack(us))
    lam = jnp.asarray(eigs)

    def Qt(x):
        for u in us:  # Qᵀ = H_k … H_1 (each H symmetric)
            x = x - 2 * u * jnp.dot(u, x)
        return x

    def Qm(x):
        for u in us[::-1]:
            x = x - 2 * u * jnp.dot(u, x)
        return x

    return lambda x: Qm(lam * Qt(x)), jnp.asarray(rng.normal(size=eigs.size))


@pytest.mark.slow
def test_extreme_eigenvalues_of_prescribed_spectrum_P2000():
    # well separated ends: Lanczos converges to them geometrically; 120 steps reach rounding
    eigs = np.concatenate([[-3.0, -2.0], np.linspace(0.0, 1.0, 1996), [2.5, 4.0]])
    op, v0 = _householder_operator(eigs, 3)
    r = jax.jit(lambda v: lanczos_eigh(op, v, 120))(v0)
    vals = np.asarray(r.values)
    assert abs(vals[0] - -3.0) < 1e-8 and abs(vals[1] - -2.0) < 1e-8
    assert abs(vals[-1] - 4.0) < 1e-8 and abs(vals[-2] - 2.5) < 1e-8
    # Ritz residual of the extreme pair certifies it: |λ − θ| <= ‖A y − θ y‖
    y = r.vectors[:, 0]
    assert float(jnp.linalg.norm(op(y) - vals[0] * y)) < 1e-8


@pytest.mark.slow
def test_ufm_hessian_extremes_match_dense():
    """P = 292 / 288 (K=4, n=8, d=8): a random point (CE) and a saddle of the no-bias family (MSE,
    eigenvalues of multiplicity up to 7·…, Krylov breakdown) — 120 steps reach the extremes to
    rounding (measured 1e-16; asserted 1e-8, the target). The same at P = 798 and 1,960 is
    in docs/hessian.md (too slow for the test budget on 2 cores)."""
    K, n, d = 4, 8, 8
    pr = Problem(K=K, n=n, d=d, lambda_W=1e-2, lambda_H=1e-2, loss="ce")
    data, hp = pr.data(), pr.hparams()
    p = init_params(jax.random.PRNGKey(0), data, scale=0.3)
    cp = nobias_critical_point(K, n, d, 1e-2, 1e-2, (0, 3))
    prn = Problem(K=K, n=n, d=d, lambda_W=1e-2, lambda_H=1e-2, bias=False)
    q = Params(jnp.asarray(cp.W), jnp.asarray(cp.H), jnp.asarray(cp.b))
    for loss, prob, pt in (("ce", pr, p), ("mse", prn, q)):
        obj = objective_for(loss)
        data, hp = prob.data(), prob.hparams()
        ds = jax.jit(lambda p: dense_spectrum(obj, p, data, hp))(pt)
        ev = np.asarray(ds.values)[np.asarray(ds.valid)]
        r = jax.jit(lambda p: lanczos_spectrum(obj, p, data, hp, num_steps=120))(pt)
        vals = np.asarray(r.values)[np.asarray(r.valid)]
        assert abs(vals[0] - ev[0]) < 1e-8 and abs(vals[-1] - ev[-1]) < 1e-8
        if loss == "mse":
            assert abs(vals[0] - cp.predicted_min_eig) < 1e-8


@pytest.mark.slow
def test_slq_quadrature_is_exact_per_probe_and_unbiased():
    eigs = np.concatenate([np.linspace(-1, 1, 60), np.full(20, 2.0)])
    A, _ = _matrix(eigs, 4)
    P = eigs.size
    key = jax.random.PRNGKey(7)
    q = jax.jit(lambda A: slq(lambda x: A @ x, P, P, 32, key))(A)
    w = np.asarray(q.weights)
    th = np.asarray(q.nodes)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)  # probability measure per probe
    # exactness per probe at full depth: Σ w g(θ) = vᵀ g(A) v / vᵀ v  (same Rademacher draws)
    keys = jax.random.split(key, 32)
    An = np.asarray(A)
    for i in range(3):
        v = np.asarray(jax.random.rademacher(jax.random.split(keys[i])[0], (P,), jnp.float64))
        for g in (lambda x: x**2, lambda x: x**3, np.exp):
            lhs = np.sum(w[i] * g(th[i]))
            ev, V = np.linalg.eigh(An)
            rhs = v @ (V * g(ev)) @ V.T @ v / (v @ v)
            assert abs(lhs - rhs) < 1e-10
    # unbiased for tr g(A)/P: within 5 standard errors of the Rademacher (Hutchinson) estimator,
    # whose variance is 2 Σ_{i≠j} g(A)_{ij}² / P²
    G = An @ An
    se = np.sqrt(2 * (np.sum(G**2) - np.sum(np.diag(G) ** 2)) / P**2 / 32)
    assert abs(np.mean(np.sum(w * th**2, axis=1)) - np.mean(eigs**2)) < 5 * se
    # the smoothed density integrates to 1
    grid = jnp.linspace(-2, 3, 2001)
    dens = np.asarray(density(q, grid, sigma=0.05))
    assert abs(np.trapezoid(dens, np.asarray(grid)) - 1.0) < 1e-6


@pytest.mark.slow
def test_lanczos_vmaps_over_matrices():
    e1 = np.linspace(-1, 1, 50)
    A1, v0 = _matrix(e1, 5)
    A2, _ = _matrix(2 * e1 + 1, 6)
    As = jnp.stack([A1, A2])
    r = jax.jit(jax.vmap(lambda A: lanczos_eigh(lambda x: A @ x, v0, 50)))(As)
    np.testing.assert_allclose(np.asarray(r.values[0]), e1, atol=1e-10)
    np.testing.assert_allclose(np.asarray(r.values[1]), 2 * e1 + 1, atol=1e-10)
