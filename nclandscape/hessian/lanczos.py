"""Lanczos with full reorthogonalisation, and stochastic Lanczos quadrature (SLQ), on matvecs.

Own code rather than a library (matfree 0.6 was considered): what we need is ~100 lines, must be
vmappable over configurations with padding masks (matfree's decompositions have no notion of a
coordinate subspace, so padded coordinates would show up as spurious Ritz values), must handle
Krylov breakdown, which UFM Hessians always hit (their eigenvalues have multiplicities n − 1, so a
Krylov space stops growing after #distinct eigenvalues steps), and a new dependency would need a
change to pyproject.toml that this module does not own. Tests compare with ``eigh`` at full depth
and on matrices with prescribed spectra (STYLE.md §11).

Factories (STYLE.md §5): ``lanczos(num_steps)`` returns ``run(matvec, v0, *, mask=None, key=None)``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nclandscape import linalg


class LanczosDecomposition(NamedTuple):
    basis: jax.Array  # (m, P) orthonormal rows q_0 … q_{m-1} (zero rows for invalid steps)
    alphas: jax.Array  # (m,) diagonal of T
    betas: jax.Array  # (m,) off-diagonal: T[j, j+1] = betas[j] (betas[m-1] is the residual norm)
    valid: jax.Array  # (m,) bool: step j produced a basis vector (False once the space is exhausted)


class RitzPairs(NamedTuple):
    values: jax.Array  # (m,) ascending; invalid ones are the last and equal a sentinel
    vectors: jax.Array  # (P, m) Ritz vectors Q^T s_i
    valid: jax.Array  # (m,) bool
    residuals: jax.Array  # (m,) |beta_m s_{m,i}| = ‖A y_i − θ_i y_i‖ (exact for a full-reortho run)


def _breakdown_tol(dtype):
    # Below eps^(2/3)·‖A‖ a residual is rounding, not a new direction: ≈3.7e-11 (f64), 2.5e-5 (f32).
    return float(jnp.finfo(dtype).eps) ** (2.0 / 3.0)


def _orthogonalise(Q, w):
    """Classical Gram–Schmidt twice against the rows of ``Q`` ("twice is enough")."""
    w = w - Q.T @ (Q @ w)
    return w - Q.T @ (Q @ w)


def lanczos(num_steps: int, *, reortho: str = "full"):
    """Lanczos tridiagonalisation with full reorthogonalisation, ``num_steps`` static.

    ``run(matvec, v0, *, mask=None, key=None) -> LanczosDecomposition``. ``mask`` (0/1, shape of
    ``v0``) restricts the operator to a coordinate subspace (padded problems). On breakdown
    (invariant subspace found) the run continues with a random vector orthogonal to the basis
    (``key``), with ``betas = 0`` there, so at full depth ``T`` is similar to the operator.
    """
    if reortho != "full":
        raise ValueError(f"reortho={reortho!r}: only 'full' is implemented")
    m = int(num_steps)
    if m < 1:
        raise ValueError(f"num_steps={num_steps}: give an integer >= 1")

    def run(matvec, v0, *, mask=None, key=None) -> LanczosDecomposition:
        dt = v0.dtype
        P = v0.shape[0]
        msk = jnp.ones((P,), dt) if mask is None else mask.astype(dt)
        key = jax.random.PRNGKey(0) if key is None else key
        op = lambda v: msk * matvec(msk * v)
        v0 = v0 * msk
        q0 = v0 / jnp.linalg.norm(v0)
        Q = jnp.zeros((m, P), dt).at[0].set(q0)
        tol = _breakdown_tol(dt)

        def body(j, carry):
            Q, alphas, betas, valid, scale = carry
            q = Q[j]
            w = op(q)
            a = jnp.dot(q, w)
            w = _orthogonalise(Q, w)
            b = jnp.linalg.norm(w)
            scale = jnp.maximum(scale, jnp.abs(a) + b)
            broke = b <= tol * scale

            def restart(_):  # only on breakdown (lax.cond: skipped otherwise outside vmap)
                r = jax.random.normal(jax.random.fold_in(key, j), (P,), dt) * msk
                r = _orthogonalise(Q, r)
                nr = jnp.linalg.norm(r)
                exhausted = nr <= tol * jnp.linalg.norm(msk)  # no direction left in the subspace
                return jnp.where(exhausted, 0.0, r / jnp.where(nr > 0, nr, 1.0)), exhausted

            def proceed(_):
                return w / jnp.where(b > 0, b, 1.0), jnp.asarray(False)

            nxt, exhausted = jax.lax.cond(broke, restart, proceed, None)
            ok = valid[j]
            alphas = alphas.at[j].set(jnp.where(ok, a, 0.0))
            betas = betas.at[j].set(jnp.where(ok & ~broke, b, 0.0))
            nxt_ok = ok & ~(broke & exhausted)
            idx, last = jnp.minimum(j + 1, m - 1), j + 1 >= m  # the last step writes nothing new
            Q = Q.at[idx].set(jnp.where(last, Q[idx], jnp.where(nxt_ok, nxt, 0.0)))
            valid = valid.at[idx].set(jnp.where(last, valid[idx], nxt_ok))
            return Q, alphas, betas, valid, scale

        valid0 = jnp.zeros((m,), bool).at[0].set(True)
        init = (Q, jnp.zeros((m,), dt), jnp.zeros((m,), dt), valid0, jnp.zeros((), dt))
        Q, alphas, betas, valid, _ = jax.lax.fori_loop(0, m, body, init)
        return LanczosDecomposition(Q, alphas, betas, valid)

    return run


def tridiagonal(dec: LanczosDecomposition):
    """The ``(m, m)`` tridiagonal ``T``; invalid steps get a sentinel above every Ritz value."""
    a, b, ok = dec.alphas, dec.betas, dec.valid
    off = b[:-1] * (ok[1:] & ok[:-1]).astype(b.dtype)
    T = jnp.diag(a) + jnp.diag(off, 1) + jnp.diag(off, -1)
    row = jnp.abs(a) + jnp.pad(jnp.abs(off), (0, 1)) + jnp.pad(jnp.abs(off), (1, 0))
    s = 2.0 * jnp.max(jnp.where(ok, row, 0.0)) + 1.0  # above the Gershgorin bound of T
    return jnp.where(ok[:, None] & ok[None, :], T, 0.0) + jnp.diag(jnp.where(ok, 0.0, s))


def ritz(dec: LanczosDecomposition) -> RitzPairs:
    """Ritz values (ascending) and vectors of a Lanczos decomposition."""
    T = tridiagonal(dec)
    theta, S = linalg.eigh(T)
    n_ok = jnp.sum(dec.valid)
    valid = jnp.arange(theta.shape[0], dtype=n_ok.dtype) < n_ok
    Y = dec.basis.T @ S
    res = jnp.abs(dec.betas[-1] * S[-1, :])
    return RitzPairs(theta, Y, valid, res)


def lanczos_eigh(matvec, v0, num_steps: int, *, mask=None, key=None) -> RitzPairs:
    """Extreme eigenpairs of a symmetric operator from ``num_steps`` Lanczos steps."""
    return ritz(lanczos(num_steps)(matvec, v0, mask=mask, key=key))


class Quadrature(NamedTuple):
    """SLQ nodes and weights: the spectral measure ``(1/P) Σ_i δ(λ_i)`` ≈ mean over probes of
    ``Σ_j weights[p, j] δ(nodes[p, j])``; weights of one probe sum to 1."""

    nodes: jax.Array  # (probes, m)
    weights: jax.Array  # (probes, m)


def slq(matvec, dim: int, num_steps: int, num_probes: int, key, *, mask=None, dtype=jnp.float64) -> Quadrature:
    """Stochastic Lanczos quadrature with Rademacher probes (restricted to ``mask``).

    For one probe v, ``Σ_j weights_j g(nodes_j) = vᵀ g(A) v / vᵀv`` exactly once the Krylov space
    is exhausted, and to Gauss-quadrature accuracy before. The density of the real coordinates is
    the mean over probes (an unbiased estimate of ``tr g(A) / P_real``).
    """
    run = lanczos(num_steps)
    msk = jnp.ones((dim,), dtype) if mask is None else mask.astype(dtype)

    def one(k):
        kv, kb = jax.random.split(k)
        v = jax.random.rademacher(kv, (dim,), dtype) * msk
        dec = run(matvec, v, mask=msk, key=kb)
        # Only the Krylov space of v carries weight: steps after the first breakdown belong to
        # other (random) directions, so zero their first-row weights by cutting T there.
        flags = dec.betas[:-1] == 0
        first_break = jnp.where(jnp.any(flags), jnp.argmax(flags), num_steps - 1)
        dec = dec._replace(valid=dec.valid & (jnp.arange(num_steps) <= first_break))
        theta, S = linalg.eigh(tridiagonal(dec))
        n_ok = jnp.sum(dec.valid)
        w = jnp.where(jnp.arange(num_steps, dtype=n_ok.dtype) < n_ok, S[0, :] ** 2, 0.0)
        return theta, w

    nodes, weights = jax.vmap(one)(jax.random.split(key, num_probes))
    return Quadrature(nodes, weights)


def density(quad: Quadrature, grid, *, sigma):
    """Gaussian-smoothed spectral density on ``grid`` (integrates to 1)."""
    g = grid[:, None, None]
    k = jnp.exp(-0.5 * ((g - quad.nodes[None]) / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(jnp.sum(k * quad.weights[None], axis=2), axis=1)
