"""Symmetric eigen-decompositions that are safe inside large vmapped CPU programs.

jaxlib's CPU LAPACK kernels (``syevd``, ``gesdd``) split a *batched* call over XLA's intra-op
thread pool and wait for the pieces (``ParallelBatchMap``) from a thread of that same pool. When
two such calls run at once (independent ops of one program, or several CPU devices) and the pool
has few threads (2 on a 2-core machine), every thread waits for work that no thread is left to
run: the program hangs with no CPU use. We traced it with gdb in jaxlib 0.10 (sweep programs
hung in ``EigenvalueDecompositionSymmetric`` / ``ParallelBatchMap``).

On the CPU backend these functions therefore hand the (small) matrices to NumPy's LAPACK through
``jax.pure_callback`` (batched with ``vmap_method="expand_dims"``), which does not use XLA's pool;
on GPU/TPU they are ``jnp.linalg`` itself. Same results: both call LAPACK's symmetric solvers.
They are not differentiable (nothing in nclandscape differentiates through an eigensolver).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _host_backend() -> bool:
    return jax.default_backend() == "cpu"


def _finite_stack(x):
    """(x with non-finite matrices replaced by the identity, mask of the bad ones): LAPACK raises
    on NaN where jnp.linalg returns NaN; we return NaN too."""
    x = np.array(x)
    bad = ~np.isfinite(x).all(axis=(-2, -1))
    if bad.any():
        x[bad] = np.eye(x.shape[-2], x.shape[-1], dtype=x.dtype)
    return x, bad


def eigh(a):
    """Eigenvalues (ascending) and eigenvectors of symmetric ``a`` (``(..., n, n)``)."""
    a = jnp.asarray(a)
    if not _host_backend():
        return jnp.linalg.eigh(a)

    def host(x):
        x, bad = _finite_stack(x)
        w, v = np.linalg.eigh(x)
        w[bad], v[bad] = np.nan, np.nan
        return w.astype(x.dtype), v.astype(x.dtype)

    out = (jax.ShapeDtypeStruct(a.shape[:-1], a.dtype), jax.ShapeDtypeStruct(a.shape, a.dtype))
    return jax.pure_callback(host, out, a, vmap_method="expand_dims")


def eigvalsh(a):
    """Eigenvalues (ascending) of symmetric ``a`` (``(..., n, n)``)."""
    a = jnp.asarray(a)
    if not _host_backend():
        return jnp.linalg.eigvalsh(a)

    def host(x):
        x, bad = _finite_stack(x)
        w = np.linalg.eigvalsh(x)
        w[bad] = np.nan
        return w.astype(x.dtype)

    return jax.pure_callback(host, jax.ShapeDtypeStruct(a.shape[:-1], a.dtype), a, vmap_method="expand_dims")


def svdvals(a):
    """Singular values (descending) of ``a`` (``(..., m, n)``)."""
    a = jnp.asarray(a)
    if not _host_backend():
        return jnp.linalg.svd(a, compute_uv=False)

    def host(x):
        x, bad = _finite_stack(x)
        s = np.linalg.svd(x, compute_uv=False)
        s[bad] = np.nan
        return s.astype(x.dtype)

    k = min(a.shape[-2], a.shape[-1])
    return jax.pure_callback(host, jax.ShapeDtypeStruct(a.shape[:-2] + (k,), a.dtype), a, vmap_method="expand_dims")
