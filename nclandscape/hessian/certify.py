"""Spectrum of one point by a chosen method, and the certification report of a critical point:
‖∇f‖, λ_min, Morse index, predicted vs measured, classification."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.hessian import columns as _cols
from nclandscape.hessian import dense as _dense
from nclandscape.hessian import structured as _st
from nclandscape.hessian.critical import escape_bound
from nclandscape.hessian.policy import choose, plan_method
from nclandscape.solve import tree_norm
from nclandscape.ufm import HParams, Params, UFMData


def spectrum_at(objective, params: Params, data: UFMData, hparams: HParams, *, method: str = "auto", lanczos_steps: int = 100, dense_max: int = _dense.DENSE_MAX) -> dict:
    """Eigenvalues of ∇²f at ``params`` (NumPy, ascending) by ``method``; ``auto`` is the policy of
    :mod:`~nclandscape.hessian.policy` (structured at collapsed points, else dense up to
    ``dense_max`` parameters, else Lanczos).

    Returns ``eigenvalues`` (all of them for dense/structured, the Ritz values for Lanczos),
    ``method``, ``min_eig``, ``index``, and for structured ``block_eigenvalues`` /
    ``block_multiplicities`` and for Lanczos ``ritz_residuals``; the leading eigenvector as
    ``_min_vector`` (``Params``, unit norm).
    """
    dt = data.Y.dtype
    P = int(jax.flatten_util.ravel_pytree(params)[0].shape[0])
    plan = plan_method(objective, P, method, dense_max=dense_max)
    collapsed = float(_st.collapse_residual(params, data)) <= _st.collapse_tol(dt)
    method = choose(plan, collapsed)
    _, unravel = jax.flatten_util.ravel_pytree(params)
    rtol = _dense.index_threshold(dt)
    out: dict = {"method": method, "collapsed": collapsed}
    if method == "structured":
        s = jax.jit(lambda p: _st.structured_spectrum(objective, p, data, hparams))(params)
        vals, mult = np.asarray(s.values), np.asarray(s.multiplicities)
        keep = mult > 0
        order = np.argsort(vals[keep], kind="stable")
        out["block_eigenvalues"], out["block_multiplicities"] = merge_equal(vals[keep][order], mult[keep][order], rtol=10 * _dense.index_threshold(dt))
        ev = _st.expand(vals, mult)
        R = s.collapsed_vectors.shape[0]
        red_vals = np.asarray(s.values[:R])
        i_red = int(np.argmin(np.where(np.asarray(mult[:R]) > 0, red_vals, np.inf)))
        i_all = int(np.argmin(np.where(keep, vals, np.inf)))
        if i_all == i_red:  # the most negative direction lies in the collapsed block
            out["_min_vector"] = _st.collapsed_vector_to_params(s.collapsed_vectors[:, i_red], data)
        else:  # a within-class block D_k: deviation x (+ on one sample, − on another) ⊗ its eigenvector
            out["_min_vector"] = _within_class_vector(objective, params, data, hparams, i_all - R)
    elif method == "dense":
        s = jax.jit(lambda p: _dense.dense_spectrum(objective, p, data, hparams))(params)
        valid = np.asarray(s.valid)
        ev = np.asarray(s.values)[valid]
        out["_min_vector"] = unravel(s.vectors[:, 0])
    else:
        r = jax.jit(lambda p: _cols.lanczos_spectrum(objective, p, data, hparams, num_steps=lanczos_steps))(params)
        valid = np.asarray(r.valid)
        ev = np.asarray(r.values)[valid]
        out["ritz_residuals"] = np.asarray(r.residuals)[valid].tolist()
        out["lanczos_steps"] = int(min(lanczos_steps, P))
        out["_min_vector"] = unravel(r.vectors[:, 0])
    big = float(np.max(np.abs(ev))) if ev.size else 0.0
    out["eigenvalues"] = ev.tolist()
    out["min_eig"] = float(ev[0]) if ev.size else None
    out["max_eig"] = float(ev[-1]) if ev.size else None
    out["index"] = int(np.sum(ev < -rtol * big))
    out["num_zero"] = int(np.sum(np.abs(ev) <= rtol * big))
    out["index_rtol"] = rtol
    return out


def merge_equal(values, multiplicities, *, rtol):
    """Merge ascending eigenvalues that agree to ``rtol · max|λ|`` (rounding of one eigenvalue
    computed in several blocks): ``(distinct values, summed multiplicities)`` as lists."""
    v = np.asarray(values, float)
    m = np.asarray(multiplicities, int)
    if v.size == 0:
        return [], []
    tol = rtol * max(float(np.max(np.abs(v))), np.finfo(float).tiny)
    out_v, out_m = [v[0]], [int(m[0])]
    for x, k in zip(v[1:], m[1:]):
        if x - out_v[-1] <= tol:
            out_m[-1] += int(k)
        else:
            out_v.append(x)
            out_m.append(int(k))
    return [float(x) for x in out_v], out_m


def _within_class_vector(objective, params, data, hparams, flat_block_index):
    D = _st.within_class_blocks(objective, params, data, hparams)
    K, d, _ = D.shape
    k, j = divmod(flat_block_index, d)
    w, V = np.linalg.eigh(np.asarray(D[k]))
    # blocks are sorted by masked_eigh in the same way as np.linalg.eigh on the real block
    v = V[:, j]
    labels = np.argmax(np.asarray(data.Y), axis=0)
    cols = np.flatnonzero((labels == k) & (np.asarray(data.sample_mask) > 0))[:2]
    H = np.zeros(np.asarray(params.H).shape)
    H[:, cols[0]] = v / np.sqrt(2)
    H[:, cols[1]] = -v / np.sqrt(2)
    dt = params.H.dtype
    return Params(jnp.zeros_like(params.W), jnp.asarray(H, dt), jnp.zeros_like(params.b))


def classify(grad_norm, min_eig, index, gap, *, rtol, big, grad_tol) -> str:
    if grad_norm > grad_tol:
        return "not critical"
    if index > 0:
        return "strict saddle"
    if gap is not None and abs(gap) <= 1e-9 * max(1.0, big):
        return "global minimum"
    if min_eig is not None and min_eig > rtol * big:
        return "strict local minimum"
    return "second-order critical, degenerate (min eigenvalue ~ 0)"


def certify(problem, objective, params: Params, data: UFMData, hparams: HParams, *, method="auto", predicted_min_eig=None, lanczos_steps=100, grad_tol=None) -> dict:
    """The certification report of ``params``: objective, ‖∇f‖, spectrum (``spectrum_at``),
    Morse index, predicted λ_min (given, or the escape bound of ``critical.escape_bound``) vs
    measured, gap to the closed-form f* where the theory applies, and a classification."""
    from nclandscape.theory import theory_applies, theory_for

    dt = data.Y.dtype
    t0 = time.perf_counter()
    value, grad = jax.jit(jax.value_and_grad(lambda p: objective(p, data, hparams)))(params)
    gn = float(tree_norm(grad))
    sp = spectrum_at(objective, params, data, hparams, method=method, lanczos_steps=lanczos_steps)
    out = {"objective": float(value), "grad_norm": gn, **sp}
    f_star = theory_for(problem)["f_star"] if theory_applies(problem) else None
    out["f_star"] = f_star
    out["gap"] = None if f_star is None else float(value) - f_star
    out["predicted_min_eig"] = predicted_min_eig
    try:
        bound, exists = jax.jit(lambda p: escape_bound(objective, p, data, hparams))(params)
        out["escape_bound"] = float(bound) if bool(exists) else None
    except ValueError:
        out["escape_bound"] = None
    pred = predicted_min_eig if predicted_min_eig is not None else out["escape_bound"]
    out["min_eig_error"] = None if (pred is None or out["min_eig"] is None) else out["min_eig"] - pred
    big = max(abs(out["min_eig"] or 0.0), abs(out["max_eig"] or 0.0))
    grad_tol = (1e-8 if dt == jnp.float64 else 1e-4) if grad_tol is None else grad_tol
    out["classification"] = classify(gn, out["min_eig"], out["index"], out["gap"], rtol=out["index_rtol"], big=big, grad_tol=grad_tol)
    out["P"] = int(jax.flatten_util.ravel_pytree(params)[0].shape[0])
    out["time_s"] = time.perf_counter() - t0
    return out
