"""Fused multi-step solver of the reduced vanilla-MSE dynamics (GD, heavy-ball, Nesterov).

:func:`nclandscape.reduced.reduced_solve` runs optax on the reduced pytree: every step is a dozen
separate XLA kernels (autodiff, optax update, mask, norm), each reading and writing the whole
batched state. On a GPU that state is read from memory many times per step, so the reduced engine
cannot get far past the full engine's memory roofline, although its work per step is ``N/(K+d)``
times smaller. This module removes that overhead for the common case:

- the gradient is written out by hand (four products per step, see below), and
- the whole early-stopping loop of one configuration runs inside *one* kernel
  (``jax.experimental.pallas``, Triton backend) with the state held on chip, so memory is touched
  once per *solve*, not once per step. ``vmap`` over configurations becomes the kernel's grid.

With ``E = W G + (b 1ᵀ − m_t I) diag(√n)`` and ``P = W D`` (THEORY.md §4, docs/reduced.md)::

    N f   = ½‖E‖² + ½‖P‖² + N (λ_W ‖W‖² + λ_H (‖G‖² + ‖D‖²) + λ_b ‖b‖²) / 2
    ∇_W f = (E Gᵀ + P Dᵀ) / N + λ_W W        ∇_G f = Wᵀ E / N + λ_H G
    ∇_b f = E √n / N + λ_b b                 ∇_D f = Wᵀ P / N + λ_H D

The iteration, stopping rule (``‖∇f‖ ≤ tol``, non-finite value, ``max_steps``), optimiser updates
(optax's ``sgd`` with ``momentum``/``nesterov`` conventions and each optimiser's default heavy-ball
coefficient from :data:`nclandscape.optimizers.OPTIMIZERS`) and result (``SolveResult``) are those
of :func:`nclandscape.solve.minimize`: trajectories agree with ``reduced_solve`` to rounding
(``tests/reduced/test_reduced_fused.py``, float64, ≤ 1e-10 after 200+ steps).

Backends: ``"pallas"`` (GPU; Triton kernel), ``"interpret"`` (the same kernel run by the Pallas
interpreter, any backend: for tests), ``"xla"`` (the same loop as plain JAX, for CPU/TPU), and
``"auto"`` (``pallas`` on GPU, ``xla`` elsewhere). Only the shared layout (vanilla MSE, α = 1) is
fused; rescaled MSE keeps one deviation map per class and runs through ``reduced_solve``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from nclandscape.errors import ConfigError
from nclandscape.objectives import LOSSES
from nclandscape.optimizers import OPTIMIZERS
from nclandscape.reduced.state import ReducedData, ReducedParams, mask_reduced
from nclandscape.solve import (
    STATUS_DIVERGED, STATUS_NOT_CONVERGED, STATUS_OK, SolveResult, default_tol, grad_tolerance,
)
from nclandscape.ufm import HParams

# Views of the registries: the optimisers (each with its default heavy-ball coefficient, as
# nclandscape.optimizers.make_optimizer) and the losses the kernel implements.
FUSED_OPTIMIZERS = tuple(name for name, spec in OPTIMIZERS.items() if spec.fused)
FUSED_LOSSES = tuple(name for name, entry in LOSSES.items() if entry.fused)
BACKENDS = ("auto", "xla", "pallas", "interpret")
_HP = 16  # length of the per-configuration scalar vector (a power of two for Triton)
# slots of that vector
_LR, _N, _LW, _LH, _LB, _TARGET, _BIAS, _MAXSTEPS, _TOL, _ALPHA_OK = range(10)


def fusable(loss: str, optimizer: str, rparams: ReducedParams | None = None) -> tuple[bool, str]:
    """Whether :func:`fused_reduced_solve` covers this loss/optimiser (and layout), and why not."""
    entry = LOSSES.get(loss) if isinstance(loss, str) else None
    if entry is None or not entry.fused:
        return False, f"loss={loss!r}: the fused solver covers {', '.join(FUSED_LOSSES)} (shared layout) only"
    return _fusable_optimizer(optimizer, rparams)


def _fusable_optimizer(optimizer: str, rparams: ReducedParams | None = None) -> tuple[bool, str]:
    if optimizer not in FUSED_OPTIMIZERS:
        return False, f"optimizer={optimizer!r}: the fused solver covers {', '.join(FUSED_OPTIMIZERS)}"
    if rparams is not None and rparams.D.ndim != 2:
        return False, "the fused solver needs the shared layout (D of shape (d, r))"
    return True, ""


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not allowed: choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "pallas" if jax.default_backend() == "gpu" else "xla"
    return backend


# ----------------------------------------------------------------------------- the math
def _mm(a, b, prec):  # a @ b
    return lax.dot_general(a, b, (((1,), (0,)), ((), ())), precision=prec)


def _mm_tn(a, b, prec):  # aᵀ @ b
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())), precision=prec)


def _mm_nt(a, b, prec):  # a @ bᵀ
    return lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=prec)


def _sum(x):  # full reduction written as 1-D reductions (what every backend lowers)
    while x.ndim > 1:
        x = jnp.sum(x, axis=-1)
    return jnp.sum(x)


def _finite(x):
    return jnp.abs(x) < jnp.inf  # False for NaN and ±inf


def _value_and_grad(p, s, hp, prec):
    """Value, squared gradient norm and gradient of the reduced vanilla-MSE objective at
    ``p = (W, b, G, D_1, ..., D_c)``, where ``D = [D_1 ... D_c]`` is split by columns (the GPU
    kernel uses blocks of 16 columns: smaller products hold fewer registers)."""
    W, b, G, *Ds = p
    K = W.shape[0]
    N, lw, lh, lb, target, bias = hp[_N], hp[_LW], hp[_LH], hp[_LB], hp[_TARGET], hp[_BIAS]
    one, zero = jnp.ones((), W.dtype), jnp.zeros((), W.dtype)  # (no bool->float casts: Triton lowers selects)
    eye = jnp.where(lax.broadcasted_iota(jnp.int32, (K, K), 0) == lax.broadcasted_iota(jnp.int32, (K, K), 1), one, zero)
    E = _mm(W, G, prec) + (b[:, None] - target * eye) * s[None, :]
    Ps = [_mm(W, Dj, prec) for Dj in Ds]
    EG = _mm_nt(E, G, prec)
    for Pj, Dj in zip(Ps, Ds):
        EG = EG + _mm_nt(Pj, Dj, prec)
    gW = EG / N + lw * W
    gb = (jnp.sum(E * s[None, :], axis=1) / N + lb * b) * bias
    gG = _mm_tn(W, E, prec) / N + lh * G
    gDs = [_mm_tn(W, Pj, prec) / N + lh * Dj for Pj, Dj in zip(Ps, Ds)]
    sq_P = sum(_sum(Pj * Pj) for Pj in Ps)
    sq_D = sum(_sum(Dj * Dj) for Dj in Ds)
    value = 0.5 * (_sum(E * E) + sq_P) / N + 0.5 * (lw * _sum(W * W) + lh * (_sum(G * G) + sq_D) + lb * jnp.sum(b * b))
    value = jnp.where(hp[_ALPHA_OK] > 0, value, jnp.nan)  # shared layout is exact only for α = 1
    gn2 = _sum(gW * gW) + jnp.sum(gb * gb) + _sum(gG * gG) + sum(_sum(g * g) for g in gDs)
    return value, gn2, (gW, gb, gG, *gDs)


def _solve_loop(params, s, hp, *, optimizer: str, prec):
    """The early-stopping loop of :func:`nclandscape.solve.minimize` on one configuration.

    Each iteration evaluates the gradient at the current point, decides whether to stop there
    (exactly ``minimize``'s condition) and otherwise takes one step; the point where it stops and
    its step count are ``minimize``'s. Returns ``(params, value, grad_norm, steps)``.
    """
    lr, max_steps, tol = hp[_LR], hp[_MAXSTEPS], hp[_TOL]
    spec = OPTIMIZERS[optimizer]
    heavy_ball = spec.momentum is not None
    mu = jnp.asarray(spec.momentum if heavy_ball else 0.0, params[0].dtype)
    zero = jnp.zeros((), params[0].dtype)

    def body(c):
        p, t, step, _, _, _ = c
        value, gn2, g = _value_and_grad(p, s, hp, prec)
        gnorm = jnp.sqrt(gn2)
        go = (step < max_steps) & (gnorm > tol) & _finite(value) & _finite(gnorm)
        if not heavy_ball:  # no trace: nothing extra is carried through the loop
            new_t, u = (), g
        else:
            new_t = tuple(gi + mu * ti for gi, ti in zip(g, t))
            u = tuple(gi + mu * ti for gi, ti in zip(g, new_t)) if spec.nesterov else new_t
        new_p = tuple(pi + (-lr) * ui for pi, ui in zip(p, u))
        p = tuple(jnp.where(go, a, o) for a, o in zip(new_p, p))
        t = tuple(jnp.where(go, a, o) for a, o in zip(new_t, t))
        step = jnp.where(go, step + 1, step)
        return p, t, step, jnp.where(go, jnp.int32(0), jnp.int32(1)), value, gnorm

    t0 = tuple(jnp.zeros_like(x) for x in params) if heavy_ball else ()
    c0 = (params, t0, zero, jnp.zeros((), jnp.int32), zero, zero)
    p, _, step, _, value, gnorm = lax.while_loop(lambda c: c[3] == 0, body, c0)
    return p, value, gnorm, step


# ----------------------------------------------------------------------------- backends
def _next_pow2(x: int, least: int = 16) -> int:
    p = least
    while p < x:
        p *= 2
    return p


PRECISIONS = ("highest", "tf32x3", "default")


def _dot_precision(precision: str, backend: str):
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} is not allowed: choose one of {', '.join(PRECISIONS)}")
    if precision == "default":
        return lax.Precision.DEFAULT
    if precision == "tf32x3":
        if backend != "pallas":
            raise ConfigError("precision='tf32x3' (three TF32 tensor-core passes) needs backend='pallas' on a GPU")
        return lax.DotAlgorithmPreset.TF32_TF32_F32_X3
    return lax.Precision.HIGHEST


def _pallas_solve(params, s, hp, *, optimizer: str, prec, interpret: bool, num_warps: int, block: int):
    """One configuration's loop as one Pallas kernel (``vmap`` adds the grid over configurations).

    ``D`` is carried as column blocks of ``block`` columns (see ``benchmarks/fused_kernel_resources.py``
    for what that and ``num_warps`` do to registers and spills on sm_90)."""
    from jax.experimental import pallas as pl

    W, b, G, D = params
    K, d = W.shape
    r = D.shape[1]
    Kp, dp, rp = _next_pow2(K), _next_pow2(d), _next_pow2(r)  # Triton: power-of-two blocks, dots ≥ 16
    block = min(_next_pow2(block), rp)
    W = jnp.pad(W, ((0, Kp - K), (0, dp - d)))
    b = jnp.pad(b, (0, Kp - K))
    G = jnp.pad(G, ((0, dp - d), (0, Kp - K)))
    D = jnp.pad(D, ((0, dp - d), (0, rp - r)))
    s = jnp.pad(s, (0, Kp - K))
    dtype = W.dtype

    def kernel(W_ref, b_ref, G_ref, D_ref, s_ref, hp_ref, W_o, b_o, G_o, D_o, st_o):
        h = hp_ref[...]
        idx = lax.broadcasted_iota(jnp.int32, (_HP,), 0)
        hs = [jnp.sum(jnp.where(idx == i, h, 0.0)) for i in range(_HP)]
        Ds = tuple(D_ref[:, pl.ds(j * block, block)] for j in range(rp // block))
        p, value, gnorm, step = _solve_loop((W_ref[...], b_ref[...], G_ref[...], *Ds), s_ref[...], hs,
                                            optimizer=optimizer, prec=prec)
        W_o[...], b_o[...], G_o[...] = p[:3]
        for j, Dj in enumerate(p[3:]):
            D_o[:, pl.ds(j * block, block)] = Dj
        st_o[...] = jnp.where(idx == 0, value, jnp.where(idx == 1, gnorm, jnp.where(idx == 2, step, 0.0)))

    out_shape = (jax.ShapeDtypeStruct((Kp, dp), dtype), jax.ShapeDtypeStruct((Kp,), dtype),
                 jax.ShapeDtypeStruct((dp, Kp), dtype), jax.ShapeDtypeStruct((dp, rp), dtype),
                 jax.ShapeDtypeStruct((_HP,), dtype))
    kw = {}
    if not interpret:
        from jax.experimental.pallas import triton as pl_triton

        kw["compiler_params"] = pl_triton.CompilerParams(num_warps=num_warps, num_stages=1)
    W, b, G, D, st = pl.pallas_call(kernel, out_shape=out_shape, interpret=interpret, name="reduced_mse_fused",
                                    **kw)(W, b, G, D, s, hp)
    return (W[:K, :d], b[:K], G[:d, :K], D[:d, :r]), st[0], st[1], st[2]


def fused_reduced_solve(rparams0: ReducedParams, rdata: ReducedData, hparams: HParams, *,
                        optimizer: str = FUSED_OPTIMIZERS[0],  # plain gradient descent
                        lr=None, max_steps=1000, tol=None, backend: str = "auto", precision: str = "highest",
                        num_warps: int = 8, d_block: int = 16) -> SolveResult:
    """:func:`nclandscape.reduced.reduced_solve` for vanilla MSE with GD / heavy-ball / Nesterov,
    as one fused loop per configuration; pure, jittable and vmappable (``lr``, ``max_steps``,
    ``tol`` and the hyper-parameters may be traced; ``optimizer`` and ``backend`` are static).

    ``precision``: ``"highest"`` (IEEE float32/float64 products everywhere); on the GPU kernel only,
    ``"tf32x3"`` (float32 products as three TF32 tensor-core passes, accurate to about float32
    rounding); or ``"default"``, JAX's default matmul precision, which for float32 on NVIDIA GPUs is
    one TF32 pass (10-bit mantissa: what XLA's own float32 products, the full engine's included,
    use there). ``num_warps``: warps per configuration in the GPU kernel; ``d_block``: the kernel
    carries ``D`` as blocks of that many columns (a power of two ≥ 16; the padded width if larger).

    Padding (``rdata`` masks) is honoured as in ``reduced_solve``: padded entries start at zero
    and the hand-written gradient keeps them zero.
    """
    ok, why = _fusable_optimizer(optimizer, rparams0)
    if not ok:
        raise ConfigError(f"fused reduced solver: {why}")
    backend = resolve_backend(backend)
    prec = _dot_precision(precision, backend)
    dtype = rdata.sizes.dtype
    lr = OPTIMIZERS[optimizer].lr if lr is None else lr
    tol = default_tol(dtype) if tol is None else tol
    tol = grad_tolerance(tol, hparams)  # the absolute gradient threshold of the stopping rule
    p = mask_reduced(rparams0, rdata)
    s = jnp.sqrt(rdata.sizes * rdata.class_mask)
    hp = jnp.zeros((_HP,), dtype)
    for slot, v in ((_LR, lr), (_N, jnp.sum(rdata.sizes * rdata.class_mask)), (_LW, hparams.lambda_W),
                    (_LH, hparams.lambda_H), (_LB, hparams.lambda_b), (_TARGET, hparams.M), (_BIAS, rdata.bias),
                    (_MAXSTEPS, max_steps), (_TOL, tol), (_ALPHA_OK, jnp.where(hparams.alpha == 1.0, 1.0, 0.0))):
        hp = hp.at[slot].set(jnp.asarray(v, dtype))
    params = (p.W, p.b, p.G, p.D)
    if backend == "xla":
        params, value, gnorm, step = _solve_loop(params, s, hp, optimizer=optimizer, prec=prec)  # D: one block
    else:
        params, value, gnorm, step = _pallas_solve(params, s, hp, optimizer=optimizer, prec=prec,
                                                   interpret=backend == "interpret", num_warps=num_warps,
                                                   block=d_block)
    finite = _finite(value) & _finite(gnorm)
    status = jnp.where(~finite, STATUS_DIVERGED, jnp.where(gnorm <= tol, STATUS_OK, STATUS_NOT_CONVERGED))
    return SolveResult(ReducedParams(*params), value, gnorm, step.astype(jnp.int32), status)


def fused_flops_per_step(K: int, d: int, r: int | None = None, *, padded: bool = False) -> int:
    """Floating-point operations of one fused step (the six products; element-wise work is O(state))."""
    r = d if r is None else r
    if padded:
        K, d, r = _next_pow2(K), _next_pow2(d), _next_pow2(r)
    return 2 * (3 * K * d * K + 3 * K * d * r)


__all__ = ["fused_reduced_solve", "fusable", "resolve_backend", "fused_flops_per_step", "FUSED_OPTIMIZERS",
           "BACKENDS", "PRECISIONS"]
