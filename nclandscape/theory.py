"""Closed-form theory of the UFM (THEORY.md §2, §2b, §3), exact and in float64 NumPy.

No iterative optimiser is used anywhere here: the bias is found by minimising an explicit convex
piecewise-quadratic function of β on each of its pieces in closed form, the minimiser is built from
an SVD of the (tiny) K×K matrix I − β 1 1^T.

All functions take the problem as ``(K, n, d, lambda_W, lambda_H, lambda_b)`` numbers (balanced
classes; the theory does not cover unbalanced ones) and validate them.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from nclandscape.errors import ConfigError


def _check(K, n, d, lambda_W, lambda_H, lambda_b=0.0):
    from nclandscape.ufm import Problem

    Problem(K=int(K), n=int(n), d=int(d), lambda_W=float(lambda_W), lambda_H=float(lambda_H), lambda_b=float(lambda_b))


def phase_threshold(K: int, n: int) -> float:
    """λ_W λ_H at which the global minimum becomes the zero solution: 1/(K N) = 1/(K² n)."""
    return 1.0 / (K * K * n)


def lambda_bar(K, n, lambda_W, lambda_H) -> float:
    return K * n * math.sqrt(lambda_W * lambda_H)


def _phi(s, lb):
    s = np.asarray(s, float)
    return np.where(s <= lb, 0.5 * s**2, lb * s - 0.5 * lb**2)


@dataclasses.dataclass(frozen=True)
class MSEGlobalMin:
    f_star: float
    beta_star: float  # b* = beta_star * 1_K
    regime: str  # "zero" (W* = H* = 0) or "collapse"
    lambda_bar: float
    sigmas: np.ndarray  # singular values of Y - b* 1^T, descending
    etas: np.ndarray  # (sigma_i - lambda_bar)_+ for the kept min(d, K) components


def _bias_objective(t, K, n, d, lb, lambda_b):
    """f as a function of t = 1 − Kβ (β = (1 − t)/K), for t in [0, 1]."""
    N = K * n
    sq = math.sqrt(n)
    if d >= K:
        data = (K - 1) * _phi(sq, lb) + _phi(sq * t, lb)
    else:  # the t-component is the smallest singular value: it is not kept
        data = d * _phi(sq, lb) + (K - 1 - d) * n / 2 + n * t**2 / 2
    return data / N + lambda_b * K * ((1 - t) / K) ** 2 / 2


def _best_t(K, n, d, lb, lambda_b):
    """Exact minimiser of the convex piecewise-quadratic ``_bias_objective`` over t in [0, 1]."""
    sq = math.sqrt(n)
    cands = [0.0, 1.0]
    # Quadratic piece n t²/2N + λ_b (1−t)²/(2K): stationary at t = λ_b / (1 + λ_b).
    cands.append(lambda_b / (1.0 + lambda_b))
    if d >= K:
        kink = lb / sq
        cands.append(min(max(kink, 0.0), 1.0))
        # Linear piece λ̄ √n t / N + λ_b (1 − t)²/(2K): stationary at t = 1 − λ̄/(√n λ_b).
        if lambda_b > 0:
            cands.append(1.0 - lb / (sq * lambda_b))
    cands = [min(max(c, 0.0), 1.0) for c in cands]
    vals = [float(_bias_objective(c, K, n, d, lb, lambda_b)) for c in cands]
    i = int(np.argmin(vals))
    return cands[i], vals[i]


def mse_global_min(K, n, d, lambda_W, lambda_H, lambda_b=0.0, *, bias=True) -> MSEGlobalMin:
    """Global minimum value f*, optimal bias β* and regime of vanilla MSE (any d)."""
    _check(K, n, d, lambda_W, lambda_H, lambda_b)
    N = K * n
    lb = lambda_bar(K, n, lambda_W, lambda_H)
    if bias:
        t, f = _best_t(K, n, d, lb, lambda_b)
        beta = (1.0 - t) / K
    else:
        t, beta = 1.0, 0.0
        r = min(d, K)
        f = float((r * _phi(math.sqrt(n), lb) + (K - r) * n / 2) / N)
    sigmas = np.sort(np.linalg.svd(np.eye(K) - beta * np.ones((K, K)), compute_uv=False))[::-1] * math.sqrt(n)
    etas = np.maximum(sigmas[: min(d, K)] - lb, 0.0)
    regime = "zero" if lb >= math.sqrt(n) else "collapse"
    return MSEGlobalMin(float(f), float(beta), regime, lb, sigmas, etas)


def _factor_ratio(lambda_W, lambda_H, nonzero: bool):
    """(μ_H/μ_W)^{1/4}: the balance λ_W WᵀW = λ_H HHᵀ of every minimiser."""
    if lambda_W > 0 and lambda_H > 0:
        return (lambda_H / lambda_W) ** 0.25
    if lambda_W == 0 and lambda_H == 0:
        return 1.0
    if not nonzero:
        return 1.0
    raise ConfigError(
        f"lambda_W={lambda_W}, lambda_H={lambda_H}: with exactly one of them zero the infimum is not "
        "attained (rescale W up and H down); give both > 0 or both = 0"
    )


def mse_global_minimizer(K, n, d, lambda_W, lambda_H, lambda_b=0.0, *, bias=True):
    """An explicit global minimiser (W*, H*, b*) of vanilla MSE, float64 arrays.

    W H = Σ_{i ≤ min(d,K)} (σ_i − λ̄)_+ u_i v_i^T with balanced factors; class k's samples are
    columns k n … (k+1) n − 1 of H.
    """
    g = mse_global_min(K, n, d, lambda_W, lambda_H, lambda_b, bias=bias)
    r = min(d, K)
    # Y − β 1 1_N^T = (I − β 1 1^T) ⊗ 1_n^T: left vectors U of the K×K factor, v_i = (U_i ⊗ 1_n)/√n.
    # Its singular values are 1 on 1^⊥ (multiplicity K − 1) and |1 − β K| on 1. An SVD routine's
    # basis of the degenerate space is arbitrary (it differs between LAPACK builds), so build a
    # fixed one: the QR basis of the centring matrix, as for the CE minimiser.
    Q, _ = np.linalg.qr(np.eye(K) - np.ones((K, K)) / K)
    U = np.concatenate([Q[:, : K - 1], np.ones((K, 1)) / math.sqrt(K)], axis=1)
    s = np.concatenate([np.ones(K - 1), [abs(1.0 - g.beta_star * K)]])
    order = np.argsort(-s, kind="stable")
    U = U[:, order]
    # Symmetric factor: its right vectors equal the left ones up to sign: compute them exactly.
    A = np.eye(K) - g.beta_star * np.ones((K, K))
    Vk = np.zeros((K, K))
    for i in range(K):
        si = s[order][i]
        Vk[:, i] = A.T @ U[:, i] / si if si > 0 else U[:, i]
    eta = g.etas
    ratio = _factor_ratio(lambda_W, lambda_H, bool(np.any(eta > 0)))
    W = np.zeros((K, d))
    Hm = np.zeros((d, K))  # class means
    for i in range(r):
        W[:, i] = ratio * math.sqrt(eta[i]) * U[:, i]
        Hm[i, :] = math.sqrt(eta[i]) / ratio * Vk[:, i] / math.sqrt(n)
    H = np.repeat(Hm, n, axis=1)
    b = g.beta_star * np.ones(K) if bias else np.zeros(K)
    return W, H, b


def predicted_class_mean_gram(K, n, d, lambda_W, lambda_H, lambda_b=0.0, *, bias=True):
    """Gram H̄ᵀH̄ (K×K) of the class means of every global minimiser (unique up to rotation of
    the features; for d < K − 1 only its spectrum is unique, since the rank-d subspace is not)."""
    _, H, _ = mse_global_minimizer(K, n, d, lambda_W, lambda_H, lambda_b, bias=bias)
    Hm = H[:, ::n]
    return Hm.T @ Hm


def mse_objective_np(W, H, b, K, n, lambda_W, lambda_H, lambda_b):
    """Vanilla MSE objective in float64 NumPy (reference implementation for checks)."""
    N = K * n
    Y = np.repeat(np.eye(K), n, axis=1)
    R = W @ H + b[:, None] - Y
    return (
        np.sum(R**2) / (2 * N)
        + lambda_W / 2 * np.sum(W**2)
        + lambda_H / 2 * np.sum(H**2)
        + lambda_b / 2 * np.sum(b**2)
    )


@dataclasses.dataclass(frozen=True)
class CriticalPoint:
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    S: tuple[int, ...]
    f: float
    predicted_min_eig: float | None  # None when the point is not a strict saddle by §3
    is_global: bool


def nobias_critical_point(K, n, d, lambda_W, lambda_H, S) -> CriticalPoint:
    """The no-bias critical point keeping singular components S (0-based classes), THEORY.md §3.

    With one-hot Y the singular vectors are u_k = e_k, v_k = (e_k ⊗ 1_n)/√n, all σ_k = √n.
    """
    _check(K, n, d, lambda_W, lambda_H)
    S = tuple(int(i) for i in S)
    if len(set(S)) != len(S) or any(i < 0 or i >= K for i in S):
        raise ConfigError(f"S={S}: give distinct class indices in 0..{K - 1}")
    if len(S) > d:
        raise ConfigError(f"S={S} keeps {len(S)} components but d={d}: at most d may be kept")
    if lambda_W <= 0 or lambda_H <= 0:
        raise ConfigError("the critical-point family needs lambda_W > 0 and lambda_H > 0")
    N = K * n
    lb = lambda_bar(K, n, lambda_W, lambda_H)
    sq = math.sqrt(n)
    eta = sq - lb
    if S and eta <= 0:
        raise ConfigError(f"sigma = sqrt(n) = {sq:.6g} <= lambda_bar = {lb:.6g}: only S = () is critical")
    ratio = (lambda_H / lambda_W) ** 0.25
    W = np.zeros((K, d))
    H = np.zeros((d, N))
    for pos, k in enumerate(S):
        W[k, pos] = ratio * math.sqrt(eta)
        H[pos, k * n : (k + 1) * n] = math.sqrt(eta) / ratio / sq
    b = np.zeros(K)
    f = float(mse_objective_np(W, H, b, K, n, lambda_W, lambda_H, 0.0))
    mu_W, mu_H = N * lambda_W, N * lambda_H
    has_escape = len(S) < min(d, K) and sq > lb
    pred = None
    if has_escape:
        pred = ((mu_W + mu_H) / 2 - math.sqrt(((mu_W - mu_H) / 2) ** 2 + n)) / N
    is_global = len(S) == min(d, K) or lb >= sq
    return CriticalPoint(W, H, b, S, f, pred, is_global)


# --------------------------------------------------------------------------- cross-entropy


@dataclasses.dataclass(frozen=True)
class CEGlobalMin:
    f_star: float
    t_star: float  # optimal squared row norm of W
    regime: str  # "zero" or "collapse"
    c: float  # h_{k,i} = c w^k


def ce_global_min(K, n, d, lambda_W, lambda_H, lambda_b=0.0) -> CEGlobalMin:
    """Global minimum of CE with weight decay for d ≥ K − 1 (CE paper Thm 3.1; THEORY.md §2b)."""
    _check(K, n, d, lambda_W, lambda_H, lambda_b)
    if d < K - 1:
        raise ConfigError(f"d={d} < K-1={K - 1}: the cross-entropy closed form needs d >= K-1")
    if lambda_W <= 0 or lambda_H <= 0:
        raise ConfigError("the cross-entropy closed form needs lambda_W > 0 and lambda_H > 0 (else the infimum is not attained)")
    c = math.sqrt(lambda_W / (lambda_H * n))
    a = K * c / (K - 1)
    lwK = lambda_W * K
    if a <= lwK:
        return CEGlobalMin(math.log(K), 0.0, "zero", c)
    u = lwK / ((K - 1) * (a - lwK))
    t = max(0.0, -math.log(u) / a)
    f = math.log1p((K - 1) * math.exp(-a * t)) + lwK * t
    return CEGlobalMin(float(f), float(t), "collapse" if t > 0 else "zero", c)


def ce_global_minimizer(K, n, d, lambda_W, lambda_H, lambda_b=0.0):
    """An explicit CE global minimiser: W rows a simplex ETF of squared norm t*, h = c w^k, b = 0."""
    g = ce_global_min(K, n, d, lambda_W, lambda_H, lambda_b)
    E = (np.eye(K) - np.ones((K, K)) / K) * math.sqrt(K / (K - 1))  # rows: unit-norm simplex ETF in R^K
    # Express in d ≥ K − 1 coordinates: an orthonormal basis of 1^⊥ maps R^K's ETF into R^{K−1}.
    Q, _ = np.linalg.qr(np.eye(K) - np.ones((K, K)) / K)
    B = Q[:, : K - 1]  # (K, K-1) orthonormal basis of 1^⊥
    Wk = E @ B  # (K, K-1), unit rows
    W = np.zeros((K, d))
    W[:, : K - 1] = math.sqrt(g.t_star) * Wk
    H = np.repeat(g.c * W.T, n, axis=1)
    return W, H, np.zeros(K)


# --------------------------------------------------------------------------- dispatch


@dataclasses.dataclass(frozen=True)
class ClosedForm:
    """How :func:`theory_for` finds a loss's global minimum: functions of a balanced
    :class:`~nclandscape.ufm.Problem`. A loss's registry entry
    (:data:`nclandscape.objectives.LOSSES`) holds its ``ClosedForm``, or None."""

    summary: Callable  # problem -> {"f_star", "b_star", "regime", ...}; ConfigError where it does not apply
    minimizer: Callable  # problem -> (W, H, b) float64 NumPy arrays of one global minimiser
    class_mean_gram: Callable | None = None  # problem -> predicted (K, K) Gram of the class means
    critical_points: Callable | None = None  # (problem, S) -> CriticalPoint of the no-bias family (§3)
    doc: str = ""


def _mse_summary(p) -> dict:
    g = mse_global_min(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias)
    return {
        "f_star": g.f_star,
        "b_star": g.beta_star,
        "regime": g.regime,
        "lambda_bar": g.lambda_bar,
        "phase_threshold": phase_threshold(p.K, p.n),
        "lambda_W_lambda_H": p.lambda_W * p.lambda_H,
    }


def _ce_summary(p) -> dict:
    g = ce_global_min(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b)
    return {"f_star": g.f_star, "b_star": 0.0, "regime": g.regime, "t_star": g.t_star}


MSE_CLOSED_FORM = ClosedForm(
    _mse_summary,
    lambda p: mse_global_minimizer(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias),
    lambda p: predicted_class_mean_gram(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b, bias=p.bias),
    lambda p, S: nobias_critical_point(p.K, p.n, p.d, p.lambda_W, p.lambda_H, S),
    doc="vanilla MSE, any d (THEORY.md §2, §2b)",
)
CE_CLOSED_FORM = ClosedForm(
    _ce_summary,
    lambda p: ce_global_minimizer(p.K, p.n, p.d, p.lambda_W, p.lambda_H, p.lambda_b),
    doc="cross-entropy, d >= K-1, lambda_W, lambda_H > 0 (THEORY.md §3)",
)


def theory_for(problem) -> dict:
    """f*, β* and regime for a :class:`~nclandscape.ufm.Problem`, or raise ConfigError if the
    theory does not cover it (a loss without a closed form, unbalanced classes, CE with d < K − 1).
    The closed form is the one of the problem's loss in :data:`nclandscape.objectives.LOSSES`."""
    from nclandscape.objectives import LOSSES, loss_of

    p = problem
    if not p.balanced:
        raise ConfigError("the closed-form theory covers balanced classes only (drop class_sizes)")
    entry = loss_of(p.loss)
    if entry.closed_form is None:
        covered = " and ".join(f"{name!r} ({l.closed_form.doc})" for name, l in LOSSES.items() if l.closed_form)
        raise ConfigError(f"loss={p.loss!r}: the closed-form theory covers {covered}; "
                          f"{entry.no_closed_form or 'this loss has no closed form'}")
    return entry.closed_form.summary(p)


def theory_applies(problem) -> bool:
    try:
        theory_for(problem)
        return True
    except ConfigError:
        return False
