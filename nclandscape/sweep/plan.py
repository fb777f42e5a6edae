"""Sweep planning, apart from the compiled engine: resolved configurations, shape buckets, the
dynamics and fused-solver choices, chunk geometry and the resume key.

Everything here is plain Python on configuration dicts; :mod:`nclandscape.sweep.engine` turns a
plan into compiled programs.
"""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

from nclandscape.errors import ConfigError
from nclandscape.objectives import loss_of
from nclandscape.reduced.policy import choose_dynamics
from nclandscape.solve import DEFAULT_LR, check_optimizer, default_tol
from nclandscape.sweep.settings import FUSED_CHOICES, EngineSettings
from nclandscape.ufm import Problem


def padded_size(x: int) -> int:
    """The padded size of one problem dimension: the smallest of 1, 2, 3 and m·2^e (m = 4..7,
    e >= 0) that is >= x (at most 25 % padding above 4). A function of the configuration alone, so
    that a row's padded shape, and with it its arithmetic, never depends on the other rows."""
    x = max(1, int(x))
    if x <= 4:
        return x
    e = max(0, x.bit_length() - 3)
    m = -(-x // (1 << e))
    return m << e


def resolve_config(c: dict, dtype) -> dict:
    """Validate one configuration and fill its defaults (lr, tol); ConfigError names the bad value."""
    c = dict(c)
    _problem(c)
    check_optimizer(c["optimizer"])
    c.update(loss_of(c["loss"]).effective(alpha=c["alpha"], M=c["M"]))  # neutral where the loss takes none
    if math.isnan(c["lr"]):
        c["lr"] = DEFAULT_LR[c["optimizer"]]
    if math.isnan(c["tol"]):
        c["tol"] = default_tol(dtype)
    if not (c["lr"] > 0 and math.isfinite(c["lr"])):
        raise ConfigError(f"lr={c['lr']!r}: give a learning rate > 0")
    if c["steps_max"] < 0:
        raise ConfigError(f"steps_max={c['steps_max']!r}: give an integer >= 0")
    if not (c["tol"] >= 0):
        raise ConfigError(f"tol={c['tol']!r}: give a tolerance >= 0")
    if not (c["scale"] >= 0 and math.isfinite(c["scale"])):
        raise ConfigError(f"scale={c['scale']!r}: give an initialisation scale >= 0")
    return c


def _problem(c: dict) -> Problem:
    return Problem(K=c["K"], n=c["n"], d=c["d"], lambda_W=c["lambda_W"], lambda_H=c["lambda_H"],
                   lambda_b=c["lambda_b"], bias=c["bias"], loss=c["loss"], alpha=c["alpha"], M=c["M"])


def theory_row(c: dict) -> tuple[float | None, str | None]:
    """(f*, regime) where the loss's closed form applies (:func:`nclandscape.theory.theory_for`),
    else (None, None)."""
    from nclandscape.theory import theory_for

    try:
        g = theory_for(_problem(c))
    except ConfigError:
        return None, None
    return g["f_star"], g["regime"]


@dataclasses.dataclass(frozen=True)
class Bucket:
    """The static part of a compiled program: loss family, optimiser, padded shape, dynamics.
    ``family``: the objective the program builds (full dynamics: ``Problem.loss_family``; reduced
    dynamics: the loss itself, whose layout the reduced state depends on)."""

    family: str
    optimizer: str
    K: int
    N: int  # 0 for reduced dynamics (nothing has shape N)
    d: int
    dynamics: str = "full"


def config_dynamics(c: dict, dynamics: str) -> str:
    """The dynamics a configuration runs with (:func:`nclandscape.reduced.policy.choose_dynamics`)."""
    return choose_dynamics(dynamics, c["loss"], c["optimizer"], c["n"])


def bucket_of(c: dict, dynamics: str = "auto") -> Bucket:
    """The bucket of one configuration: its static choices and padded shape (:func:`padded_size`)."""
    dyn = config_dynamics(c, dynamics)
    if dyn == "reduced":
        return Bucket(c["loss"], c["optimizer"], padded_size(c["K"]), 0, padded_size(c["d"]), dyn)
    fam = loss_of(c["loss"]).family
    return Bucket(fam, c["optimizer"], padded_size(c["K"]), padded_size(c["K"] * c["n"]), padded_size(c["d"]), dyn)


def plan_buckets(configs: list[dict], indices, dynamics: str = "auto") -> dict[Bucket, list[int]]:
    """Configuration indices grouped by bucket (in their order)."""
    out: dict[Bucket, list[int]] = defaultdict(list)
    for i in indices:
        out[bucket_of(configs[i], dynamics)].append(i)
    return dict(out)


def check_fused(fused: str) -> str:
    """Validate a ``fused`` setting on this machine (``pallas`` needs a GPU backend)."""
    import jax

    if fused not in FUSED_CHOICES:
        raise ConfigError(f"fused={fused!r} is not allowed: choose one of {', '.join(FUSED_CHOICES)}")
    if fused == "pallas" and jax.default_backend() != "gpu":
        raise ConfigError(f"fused='pallas' runs a GPU kernel, and this machine's JAX backend is "
                          f"{jax.default_backend()!r}: use fused = 'auto' or 'xla'")
    return fused


def fused_backend_for(bucket: Bucket, fused: str) -> str:
    """The fused-solver backend a bucket runs with (``"off"``: the refilled solver loop), from the
    ``fused`` setting: only reduced vanilla-MSE buckets with a fusable optimiser are fused."""
    from nclandscape.reduced.fused import fusable, resolve_backend

    check_fused(fused)
    if fused == "off" or bucket.dynamics != "reduced" or not fusable(bucket.family, bucket.optimizer)[0]:
        return "off"
    return resolve_backend(fused)


def check_devices(buckets, devices) -> None:
    """Refuse, before any work, what these devices cannot run. jaxlib's batched CPU LAPACK kernels
    (the Cholesky factorisations of the Newton solver) split their batch over XLA's intra-op
    thread pool and wait on it from a thread of that pool: with several CPU devices in one process
    the pool's threads all wait and the program hangs with no CPU use (seen with 2 host devices on
    2 cores). Run one CPU device per process (``--distributed``) or a GPU instead."""
    from nclandscape.optimizers import optimizer_spec

    cpus = [d for d in devices if d.platform == "cpu"]
    if len(cpus) < 2:
        return
    lapack = sorted({b.optimizer for b in buckets if optimizer_spec(b.optimizer).solver is not None})
    if lapack:
        raise ConfigError(f"optimizer {', '.join(lapack)} runs batched LAPACK kernels, which deadlock with "
                          f"{len(cpus)} CPU devices in one process: run one CPU device per process "
                          "(drop --xla_force_host_platform_device_count, or use --distributed) or a GPU")


def chunk_geometry(chunk: int, slots: int, ndev: int) -> tuple[int, int]:
    """(configurations, lanes) of a chunk's program: both multiples of the device count."""
    per_dev = -(-chunk // ndev)
    return per_dev * ndev, max(1, min(slots, per_dev)) * ndev


def resume_key_of(spec, dtype) -> dict:
    """What a results folder must share with a sweep to resume it: the inputs, the dtype and the
    settings that change numbers (:meth:`EngineSettings.numeric_dict`)."""
    import jax.numpy as jnp

    d = spec.to_dict()
    d["sweep"] = spec.engine.numeric_dict()
    return {"spec": d, "dtype": jnp.dtype(dtype).name}


__all__ = ["EngineSettings", "Bucket", "padded_size", "resolve_config", "theory_row", "config_dynamics",
           "bucket_of", "plan_buckets", "check_devices", "check_fused", "fused_backend_for", "chunk_geometry", "resume_key_of"]
