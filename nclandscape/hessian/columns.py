"""``sweep_columns``: Hessian columns of one configuration, for the sweep engine's compiled program.

Method per configuration: the ``auto`` policy of :mod:`~nclandscape.hessian.policy` on the padded
parameter count. The choice dense/Lanczos is static (shapes); collapsed-or-not is decided per
configuration with ``lax.cond`` (under ``vmap`` both branches run and the result is selected, so
the cost is that of the fallback plus the cheap structured one). The method used is returned as
an integer code, see ``HESSIAN_METHODS``.

Padded coordinates (and ``b`` without bias) are not variables of the problem and never produce
eigenvalues: dense and structured spectra drop them (``masked_eigh``), Lanczos runs on the
masked subspace.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from nclandscape.hessian import dense as _dense
from nclandscape.hessian import lanczos as _lanczos
from nclandscape.hessian import structured as _structured
from nclandscape.hessian.dense import DENSE_MAX
from nclandscape.hessian.policy import HESSIAN_METHODS, METHOD_CODES, check_method, plan_method
from nclandscape.ufm import HParams, Params, UFMData

DEFAULT_LANCZOS_STEPS = 100

__all__ = ["DEFAULT_LANCZOS_STEPS", "DENSE_MAX", "HESSIAN_METHODS", "METHOD_CODES", "check_method",
           "lanczos_spectrum", "sweep_columns"]


def _structured_cols(objective, params, data, hparams, rtol):
    s = _structured.structured_spectrum(objective, params, data, hparams)
    return _dense.min_eig_and_index(s.values, s.multiplicities, rtol=rtol)


def _dense_cols(objective, params, data, hparams, rtol):
    s = _dense.dense_spectrum(objective, params, data, hparams)
    return _dense.min_eig_and_index(s.values, s.valid.astype(jnp.int32), rtol=rtol)


def lanczos_spectrum(objective, params, data, hparams, *, num_steps=DEFAULT_LANCZOS_STEPS, key=None):
    """Ritz pairs of the Hessian on the real coordinates (``num_steps`` capped at ``P``)."""
    mv = _dense.flat_hvp(objective, params, data, hparams)
    x0 = ravel_pytree(params)[0]
    mask = _dense.flat_mask(data, x0.dtype)
    key = jax.random.PRNGKey(0) if key is None else key
    k0, k1 = jax.random.split(key)
    v0 = jax.random.normal(k0, x0.shape, x0.dtype)
    return _lanczos.lanczos_eigh(mv, v0, min(int(num_steps), x0.shape[0]), mask=mask, key=k1)


def _lanczos_cols(objective, params, data, hparams, rtol, num_steps):
    r = lanczos_spectrum(objective, params, data, hparams, num_steps=num_steps)
    return _dense.min_eig_and_index(r.values, r.valid.astype(jnp.int32), rtol=rtol)


def sweep_columns(
    objective,
    params: Params,
    data: UFMData,
    hparams: HParams,
    *,
    method: str = "auto",
    dense_max: int = DENSE_MAX,
    lanczos_steps: int = DEFAULT_LANCZOS_STEPS,
    rtol=None,
) -> dict:
    """``{"min_eig", "index", "hessian_method"}`` (scalar arrays) of one configuration.

    ``min_eig`` is the smallest eigenvalue of ∇²f on the real coordinates; ``index`` the number of
    eigenvalues below ``-rtol · max|λ|`` (``rtol`` 1e-10 in float64, 1e-4 in float32, see
    :func:`~nclandscape.hessian.dense.index_threshold`); for Lanczos both come from the
    ``lanczos_steps`` Ritz values (the index is then a lower bound). ``hessian_method`` indexes
    ``HESSIAN_METHODS``. Jittable and vmappable; ``method``, ``dense_max`` and ``lanczos_steps``
    are static.
    """
    plan = plan_method(objective, ravel_pytree(params)[0].shape[0], method, dense_max=dense_max)
    dt = data.Y.dtype

    def code(name):
        return jnp.asarray(METHOD_CODES[name], jnp.int32)

    def fallback(p):
        if plan.method == "dense":
            return (*_dense_cols(objective, p, data, hparams, rtol), code("dense"))
        return (*_lanczos_cols(objective, p, data, hparams, rtol, lanczos_steps), code("lanczos"))

    if plan.method == "structured":
        out = (*_structured_cols(objective, params, data, hparams, rtol), code("structured"))
    elif not plan.structured_if_collapsed:
        out = fallback(params)
    else:
        collapsed = _structured.collapse_residual(params, data) <= _structured.collapse_tol(dt)
        out = jax.lax.cond(
            collapsed,
            lambda p: (*_structured_cols(objective, p, data, hparams, rtol), code("structured")),
            fallback,
            params,
        )
    min_eig, index, c = out
    return {"min_eig": min_eig.astype(dt), "index": index, "hessian_method": c}
