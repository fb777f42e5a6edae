"""Exact damped Newton for the UFM: the H–H block eliminated by a Schur complement.

The UFM objective is f = (1/N) Σ_j ℓ(z_j) + λ_W/2‖W‖² + λ_H/2‖H‖² + λ_b/2‖b‖² with logits
z_j = W h_j + b and a per-sample loss ℓ that is convex in the logits (vanilla or rescaled MSE,
cross-entropy). With g_j = ∇ℓ(z_j) and P_j = ∇²ℓ(z_j) (K×K), its Hessian has the structure of a
bundle-adjustment problem:

- the H–H block is block-diagonal, one d×d block per sample, D_j = Wᵀ P_j W / N + λ_H I (positive
  definite whenever λ_H > 0, since P_j ⪰ 0);
- the (W, b)–(W, b) block A has K·d + K rows; A_WW = (1/N) Σ_j P_j ⊗ h_j h_jᵀ + λ_W I;
- the coupling of (W, b) with sample j is C_j, C_j[(k,a), c] = (Q_j[k,c] h_j[a] + g_j[k] δ_ac)/N,
  C_j[b_l, c] = Q_j[l,c]/N with Q_j = P_j W.

A damped Newton step solves (∇²f + μI) p = −∇f. Eliminating H leaves the Schur complement
S = A + μI − Σ_j C_j (D_j + μI)⁻¹ C_jᵀ, a (K·d + K)-square system whose entries are sums of
Kronecker products over groups of samples that share P_j (the K classes for the MSE family, every
sample for cross-entropy): cost O(G K² d²) to form, in two matrix products and one pass over S,
and O((K d)³) to factor, after which
every h_j's step is a d×d solve. ∇²f + μI is positive definite exactly when every D_j + μI and S
are, so one Cholesky factorisation of S both tests the damping and gives the step.

Globalisation (Levenberg–Marquardt / trust-region style, Nielsen's update): a step is accepted
only when f decreases by at least 1e-4 of the decrease the quadratic model predicts (an uphill
step is never accepted); μ shrinks after a good step and grows after a rejected step or a failed
factorisation (∇²f + μI not positive definite). At a strict saddle ∇²f has a negative eigenvalue
−ν, μ settles above ν, and the component of the iterate along that eigenvector grows by the
factor μ/(μ − ν) > 1 at every step: the solver leaves the saddle. Near a minimiser μ falls to its
floor and the step is Newton's: convergence is quadratic (a few iterations from 1e-3 to 1e-15).

Every iteration costs one factorisation and one objective evaluation; ``step`` counts them.
Padded entries (the sweep's masks) are held at zero: their rows of the system are the identity.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nclandscape.ufm import HParams, Params, UFMData, mask_params

# Step acceptance: actual decrease >= ETA * predicted decrease.
ETA = 1e-4
# Initial damping relative to the largest diagonal entry of the Hessian, and the damping floor
# relative to the same scale (keeps the system invertible along the UFM's rotation symmetry).
MU_INIT = 1e-3
MU_FLOOR = {"float64": 1e-14, "float32": 1e-7}
# Nielsen's damping update: after an accepted step μ ← μ·max(SHRINK, 1 − (2ρ − 1)³); after a
# rejection μ ← μ·ν and ν ← GROW·ν (ν restarts at GROW after an accepted step).
SHRINK = 1.0 / 3.0
# Rebalancing and the feature projection are applied only when they lower f by more than
# PARTIAL_GAIN·eps·|f| (rounding-level gains would keep the gradient at its noise floor).
PARTIAL_GAIN = 1e3
# Below ROUNDING·eps·|f| a predicted decrease is lost in f's rounding: such steps are judged by ‖∇f‖.
ROUNDING = 100.0
GROW = 2.0


class NewtonState(NamedTuple):
    mu: jax.Array  # damping
    nu: jax.Array  # growth factor of mu after a rejection (Nielsen)
    accepted: jax.Array  # steps accepted so far


def _masks(data: UFMData):
    cm, sm, dm = data.class_mask, data.sample_mask, data.dim_mask
    mW = cm[:, None] * dm[None, :]
    mb = cm * data.bias
    return mW, mb, dm, sm


def per_sample_derivatives(per_sample, params: Params, data: UFMData):
    """Gradients ``g`` (K, N) and Hessians ``P`` (N, K, K) of the per-sample loss in the logits;
    zero for padded samples. ``per_sample(z, y)`` maps logits/targets (K, N) to losses (N,)."""
    p = mask_params(params, data)
    z = p.W @ p.H + p.b[:, None]

    def ell(zj, yj):
        return per_sample(zj[:, None], yj[:, None])[0]

    g = jax.vmap(jax.grad(ell), in_axes=(1, 1), out_axes=1)(z, data.Y)
    P = jax.vmap(jax.hessian(ell), in_axes=(1, 1))(z, data.Y)
    sm = data.sample_mask
    return g * sm[None, :], P * sm[:, None, None]


class Curvature(NamedTuple):
    """The parts of ∇²f that do not depend on the damping, as sums over *groups* of samples that
    share their logit Hessian: the classes for the MSE family (P_j = diag(ω_{y_j})), the samples
    themselves for cross-entropy. Every Schur term is a sum over samples of products of P_j with
    h_j h_jᵀ, g_j h_jᵀ, g_j g_jᵀ, h_j or g_j, so per-group sums of those are all it needs."""

    W: jax.Array  # (K, d)
    H: jax.Array  # (d, N) features (masked)
    g: jax.Array  # (K, N) per-sample logit gradients (masked)
    gi: jax.Array  # (N,) group of each sample
    P: jax.Array  # (G, K, K) logit Hessian of each group
    n: jax.Array  # (G,) samples per group
    S: jax.Array  # (G, d, d) Σ h hᵀ
    s: jax.Array  # (G, d) Σ h
    GH: jax.Array  # (G, K, d) Σ g hᵀ
    GG: jax.Array  # (G, K, K) Σ g gᵀ
    sg: jax.Array  # (G, K) Σ g
    n_eff: jax.Array
    scale: jax.Array  # largest diagonal entry of the Hessian (sets the damping's scale)


def groups_of(data: UFMData, by_class: bool):
    """``(membership (G, N), group index (N,))``: classes (``by_class``) or one group per sample."""
    N = data.Y.shape[1]
    if by_class:
        M = data.Y * data.sample_mask[None, :]
        return M, jnp.argmax(data.Y, axis=0)
    return jnp.diag(data.sample_mask), jnp.arange(N)


def group_hessians(per_sample, params: Params, data: UFMData, by_class: bool):
    """``(g, M, gi, n, P)``: per-sample logit gradients (K, N), group membership (G, N) and index
    (N,), samples per group (G,) and each group's mean logit Hessian (G, K, K)."""
    g, Pj = per_sample_derivatives(per_sample, params, data)
    M, gi = groups_of(data, by_class)
    n = jnp.sum(M, axis=1)
    P = jnp.einsum("gj,jkl->gkl", M, Pj) / jnp.maximum(n, 1.0)[:, None, None]
    return g, M, gi, n, P


def curvature(per_sample, params: Params, data: UFMData, hparams: HParams, *, by_class: bool = False) -> Curvature:
    """The Hessian's structure at ``params``; ``by_class``: the per-sample loss's logit Hessian
    depends only on the class (true for the MSE family), so groups are classes."""
    p = mask_params(params, data)
    W, H = p.W, p.H
    K, d = W.shape
    n_eff = jnp.sum(data.sample_mask)
    g, M, gi, n, P = group_hessians(per_sample, params, data, by_class)
    S = jnp.einsum("gj,aj,cj->gac", M, H, H)
    s = M @ H.T
    GH = jnp.einsum("gj,kj,aj->gka", M, g, H)
    GG = jnp.einsum("gj,kj,lj->gkl", M, g, g)
    sg = M @ g.T
    # The (W, b) block A is never formed: the Schur complement assembles it with the rest. Its
    # diagonal: A_WW[(k,a),(k,a)] = Σ_g P_g[k,k] S_g[a,a]/N + λ_W, A_bb[k,k] = Σ_g n_g P_g[k,k]/N + λ_b.
    Pdiag = jnp.diagonal(P, axis1=1, axis2=2)  # (G, K)
    Sdiag = jnp.diagonal(S, axis1=1, axis2=2)  # (G, d)
    A_diag = jnp.concatenate([(Pdiag.T @ Sdiag / n_eff + hparams.lambda_W).reshape(-1),
                              n @ Pdiag / n_eff + hparams.lambda_b])
    D_diag = jnp.einsum("kc,gkl,lc->gc", W, P, W) / n_eff + hparams.lambda_H
    scale = jnp.maximum(jnp.max(A_diag), jnp.max(D_diag))
    return Curvature(W, H, g, gi, P, n, S, s, GH, GG, sg, n_eff, scale)


def _group_inverses(W, P, data: UFMData, lam, N):
    """(D_g + lam I)⁻¹ for every group, D_g = Wᵀ P_g W / N (padded dimensions: identity, then
    masked out); also Q_g = P_g W."""
    d = W.shape[1]
    dt = W.dtype
    dm = data.dim_mask
    eye_d = jnp.eye(d, dtype=dt)
    Q = jnp.einsum("gkl,lc->gkc", P, W)
    D = jnp.einsum("kc,gke->gce", W, Q) / N + lam * eye_d
    mask2 = dm[:, None] * dm[None, :]
    D = D * mask2 + (1.0 - mask2) * eye_d
    L = jnp.linalg.cholesky(D)
    E = jax.vmap(lambda L: jax.scipy.linalg.cho_solve((L, True), eye_d))(L)
    return E * mask2, Q


def damped_newton_step(cv: Curvature, grad: Params, data: UFMData, hparams: HParams, mu):
    """Solve (∇²f + μI) p = −∇f by the Schur complement. Returns ``(p, ok, pred)``: the step (a
    ``Params``), whether ∇²f + μI was positive definite (its Cholesky factor finite), and the
    decrease the quadratic model predicts, −gᵀp − ½pᵀ∇²f p = ½(−gᵀp + μ‖p‖²)."""
    W, H, g, N = cv.W, cv.H, cv.g, cv.n_eff
    K, d = W.shape
    dt = W.dtype
    mW, mb, dm, sm = _masks(data)
    E, Q = _group_inverses(W, cv.P, data, hparams.lambda_H + mu, N)  # (G, d, d), (G, K, d)
    R = jnp.einsum("gkc,gce,gle->gkl", Q, E, Q)  # Q E Qᵀ
    V = jnp.einsum("gkc,gca->gka", Q, E)  # Q E
    # S = A − Σ_j C_j E_j C_jᵀ + μI, assembled in one pass from per-group sums:
    # S_WW[(k,a),(l,c)] = Σ_g (P_g/N − R_g/N²)[k,l] S_g[a,c] − (GG_g/N²)[k,l] E_g[a,c] − X[k,c,l,a] − X[l,a,k,c]
    # with X[k,c,l,a] = Σ_g GH_g[k,c] V_g[l,a]/N² (one matrix product per sum, then one transposing pass);
    # S_Wb[(k,a), l] = Σ_g (P_g/N − R_g/N²)[k,l] s_g[a] − Σ_g sg_g[k] V_g[l,a]/N²;
    # S_bb = Σ_g n_g (P_g/N − R_g/N²).
    C = cv.P / N - R / N**2  # (G, K, K)
    G = C.shape[0]
    Y = jnp.tensordot(jnp.concatenate([C, -cv.GG / N**2]).reshape(2 * G, K * K),
                      jnp.concatenate([cv.S, E]).reshape(2 * G, d * d), axes=(0, 0)).reshape(K, K, d, d)
    X = jnp.tensordot(cv.GH.reshape(G, K * d), V.reshape(G, K * d), axes=(0, 0)).reshape(K, d, K, d) / N**2
    S_WW = (Y.transpose(0, 2, 1, 3) - X.transpose(0, 3, 2, 1) - X.transpose(2, 1, 0, 3)).reshape(K * d, K * d)
    S_Wb = (jnp.einsum("gkl,ga->kal", C, cv.s) - jnp.einsum("gk,gla->kal", cv.sg, V) / N**2).reshape(K * d, K)
    S_bb = jnp.einsum("g,gkl->kl", cv.n, C)
    m = jnp.concatenate([mW.reshape(-1), mb])
    reg = jnp.concatenate([jnp.broadcast_to(hparams.lambda_W, (K * d,)),
                           jnp.broadcast_to(hparams.lambda_b, (K,))]).astype(dt)
    S = jnp.concatenate([jnp.concatenate([S_WW, S_Wb], axis=1), jnp.concatenate([S_Wb.T, S_bb], axis=1)])
    S = S * (m[:, None] * m[None, :]) + jnp.diag((reg + mu) * m + (1.0 - m))
    # Right-hand side: −g_x + Σ_j C_j E_j g_{h_j}, C_j u = ((Q u) h_jᵀ + g_j uᵀ, Q u)/N.
    Ej, Qj = E[cv.gi], Q[cv.gi]  # (N, d, d), (N, K, d)
    gH = grad.H * dm[:, None] * sm[None, :]
    u = jnp.einsum("jac,cj->aj", Ej, gH)  # (d, N)
    Qu = jnp.einsum("jkc,cj->kj", Qj, u)  # (K, N)
    cu_W = (Qu @ H.T + g @ u.T) / N
    cu_b = jnp.sum(Qu, axis=1) / N
    rhs = jnp.concatenate([(-grad.W + cu_W).reshape(-1), -grad.b + cu_b]) * m
    L = jnp.linalg.cholesky(S)
    ok = jnp.all(jnp.isfinite(jnp.diagonal(L)))  # a failed factorisation is NaN throughout
    dx = jax.scipy.linalg.cho_solve((L, True), rhs) * m
    dW, db = dx[: K * d].reshape(K, d), dx[K * d :]
    # h_j step: −E_j (g_{h_j} + C_jᵀ Δx),  C_jᵀΔx = (Q_jᵀ(ΔW h_j + Δb) + ΔWᵀ g_j)/N.
    r = dW @ H + db[:, None]  # (K, N)
    CtDx = (jnp.einsum("jkc,kj->cj", Qj, r) + dW.T @ g) / N
    dH = -jnp.einsum("jac,cj->aj", Ej, gH + CtDx) * dm[:, None] * sm[None, :]
    p = Params(dW * mW, dH, db * mb)
    gp = sum(jnp.vdot(a, b) for a, b in zip(grad, p))
    pp = sum(jnp.vdot(a, a) for a in p)
    pred = 0.5 * (-gp + mu * pp)
    ok = ok & jnp.isfinite(pred) & (pred > 0)
    return p, ok, pred


def feature_step(per_sample, params: Params, data: UFMData, hparams: HParams, *, by_class: bool = False) -> Params:
    """Minimise over H with (W, b) fixed by one Newton step per sample, kept where it lowers that
    sample's term ℓ(W h_j + b)/N + λ_H/2‖h_j‖² (f is separable in the h_j). For the MSE family ℓ is
    quadratic, so this is the exact minimiser over H (variable projection); for cross-entropy it is
    a monotone Newton step on each strongly convex per-sample problem."""
    p = mask_params(params, data)
    W, H, b = p.W, p.H, p.b
    _, _, dm, sm = _masks(data)
    N = jnp.sum(sm)
    g, _, gi, _, P = group_hessians(per_sample, p, data, by_class)
    E, _ = _group_inverses(W, P, data, hparams.lambda_H, N)
    gh = (W.T @ g / N + hparams.lambda_H * H) * dm[:, None] * sm[None, :]
    H_new = (H - jnp.einsum("jac,cj->aj", E[gi], gh)) * dm[:, None] * sm[None, :]

    def terms(Hx):
        z = W @ Hx + b[:, None]
        return per_sample(z, data.Y) / N + 0.5 * hparams.lambda_H * jnp.sum(Hx**2, axis=0)

    better = jnp.isfinite(jnp.sum(H_new, axis=0)) & (terms(H_new) < terms(H))
    return Params(W, jnp.where(better[None, :], H_new, H), b)


def rebalance(params: Params, data: UFMData, hparams: HParams) -> Params:
    """The balanced factorisation of the same product: (W, H) -> (W G, G⁻¹ H) with G minimising
    λ_W‖W G‖² + λ_H‖G⁻¹H‖². The logits W H + b, and so the loss, are unchanged and the weight decay
    falls to its minimum over factorisations, √(λ_W λ_H)‖W H‖_* (f never increases). With
    Z = W H = U Σ Vᵀ: W = κ U Σ^{1/2}, H = κ⁻¹ Σ^{-1/2} Uᵀ Z, κ⁴ = λ_H/λ_W (one K×K symmetric
    eigen-decomposition of Z Zᵀ). Components beyond rank(Z) become exactly zero. This removes the
    GL(d) directions along which f has only O(λ) curvature, where damped Newton crawls.
    Needs λ_W, λ_H > 0 (otherwise the parameters are returned unchanged)."""
    from nclandscape import linalg

    p = mask_params(params, data)
    W, H = p.W, p.H
    K, d = W.shape
    dt = W.dtype
    B = H @ H.T
    ZZ = W @ B @ W.T
    ZZ = 0.5 * (ZZ + ZZ.T)
    evals, U = linalg.eigh(ZZ)
    evals, U = evals[::-1], U[:, ::-1]  # descending
    r = min(K, d)
    sig = jnp.sqrt(jnp.maximum(evals[:r], 0.0))
    U = U[:, :r]
    tiny = jnp.finfo(dt).eps * jnp.maximum(sig[0], jnp.finfo(dt).tiny)
    keep = sig > tiny
    kappa = (hparams.lambda_H / jnp.where(hparams.lambda_W > 0, hparams.lambda_W, 1.0)) ** 0.25
    Wn = kappa * U * jnp.where(keep, jnp.sqrt(sig), 0.0)[None, :]
    Hn = (jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, sig, 1.0)), 0.0)[:, None] * (U.T @ (W @ H))) / kappa
    if r < d:
        Wn = jnp.concatenate([Wn, jnp.zeros((K, d - r), dt)], axis=1)
        Hn = jnp.concatenate([Hn, jnp.zeros((d - r, H.shape[1]), dt)], axis=0)
    new = mask_params(Params(Wn, Hn, p.b), data)
    usable = (hparams.lambda_W > 0) & (hparams.lambda_H > 0) & jnp.all(jnp.isfinite(Wn)) & jnp.all(jnp.isfinite(Hn))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(usable, a, b), new, p)


def newton_init(dtype) -> NewtonState:
    """The damping state before the first iteration (μ < 0: set from the Hessian's scale then)."""
    return NewtonState(mu=jnp.asarray(-1.0, dtype), nu=jnp.asarray(GROW, dtype), accepted=jnp.asarray(0, jnp.int32))


def _norm(tree):
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree)))


def _pick(cond, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def newton_update(per_sample, value_and_grad, params: Params, value, grad: Params, state: NewtonState,
                  data: UFMData, hparams: HParams, *, partial: bool = True, by_class: bool = False):
    """One damped-Newton iteration from ``params`` (``value``, ``grad``: f and ∇f there).

    Returns ``(params, value, grad, state)`` at the new point. ``partial``: first rebalance and
    project the features (:func:`rebalance`, :func:`feature_step`), kept where that lowers f by
    more than rounding (PARTIAL_GAIN·eps·|f|). Then a damped Newton step, accepted when f falls by
    at least ETA of the predicted decrease; where the predicted decrease is below f's rounding
    (ROUNDING·eps·|f|, the last Newton steps) it is accepted when it lowers ‖∇f‖ instead.
    ``by_class``: the logit Hessian depends only on the class (MSE family), so the Schur
    complement is formed from per-class sums (see :class:`Curvature`).
    """
    dtype = value.dtype
    eps = jnp.finfo(dtype).eps
    if partial:
        cand = feature_step(per_sample, rebalance(params, data, hparams), data, hparams, by_class=by_class)
        f_c, g_c = value_and_grad(cand)
        use = jnp.isfinite(f_c) & jnp.isfinite(_norm(g_c)) & (value - f_c > PARTIAL_GAIN * eps * jnp.abs(value))
        params, value, grad = _pick(use, (cand, f_c, g_c), (params, value, grad))
    cv = curvature(per_sample, params, data, hparams, by_class=by_class)
    floor = MU_FLOOR[jnp.dtype(dtype).name] * cv.scale
    mu = jnp.where(state.mu < 0, MU_INIT * cv.scale, jnp.maximum(state.mu, floor))
    p, ok, pred = damped_newton_step(cv, grad, data, hparams, mu)
    trial = mask_params(jax.tree_util.tree_map(lambda a, b: a + b, params, p), data)
    f_new, g_new = value_and_grad(trial)
    gn, gn_new = _norm(grad), _norm(g_new)
    rho = (value - f_new) / jnp.where(ok, pred, 1.0)
    finite = jnp.isfinite(f_new) & jnp.isfinite(gn_new)
    descent = (f_new < value) & (rho > ETA)
    tiny = ROUNDING * eps * jnp.abs(value)
    rounding = (pred <= tiny) & (f_new <= value + tiny) & (gn_new < gn)
    accept = ok & finite & (descent | rounding)
    good = jnp.maximum(SHRINK, 1.0 - (2.0 * jnp.clip(rho, 0.0, 1.0) - 1.0) ** 3)
    mu_new = jnp.where(accept, mu * good, mu * state.nu)
    nu_new = jnp.where(accept, GROW, GROW * state.nu)
    params, value, grad = _pick(accept, (trial, f_new, g_new), (params, value, grad))
    state = NewtonState(mu_new.astype(dtype), nu_new.astype(dtype), state.accepted + accept.astype(jnp.int32))
    return params, value, grad, state
