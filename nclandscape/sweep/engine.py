"""The sweep engine: thousands of UFM configurations as a few compiled, vmapped, sharded programs.

Pipeline:
1. every configuration is validated and grouped by its static part (loss family, optimiser) and a
   *shape bucket*: K, N = K n and d rounded up to powers of two, the bucket's shape being the
   largest real shape inside it. Smaller problems are padded with masked entries, which change
   nothing (the objective, gradient, optimiser and metrics ignore them; checked by tests against
   unpadded runs);
2. a bucket runs in chunks of a fixed size (the last one filled with copies that are dropped), so
   it compiles once: ``jit(vmap(run_one))`` where ``run_one`` builds the problem from a few
   integers and arrays, draws its padding-invariant initialisation from its seed, solves it with
   per-configuration early stopping and computes the NC metrics;
3. the chunk's inputs are sharded over every device (``jax.sharding``, one mesh axis
   ``"config"``), across hosts too after ``jax.distributed.initialize()``;
4. rows go to a Parquet part as soon as a chunk is done (see :mod:`nclandscape.sweep.store`).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter, defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics
from nclandscape.objectives import objective_for
from nclandscape.solve import DEFAULT_LR, STATUS_NAMES, check_optimizer, default_tol, solve
from nclandscape.sweep.spec import INPUT_COLUMNS, SweepSpec, config_id
from nclandscape.sweep.store import ResultStore
from nclandscape.theory import ce_global_min, mse_global_min
from nclandscape.ufm import HParams, Problem, UFMData, init_params

OUTPUT_COLUMNS = ("objective", "f_star", "gap", "grad_norm", "nc1", "nc2", "nc3", "nc4",
                  "numerical_rank", "min_cos_margin", "steps", "status")

# Number of times each bucket's program was traced (a test proves: once per bucket).
TRACE_COUNTS: Counter = Counter()


def _pow2(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def resolve_config(c: dict, dtype) -> dict:
    """Validate one configuration and fill its defaults (lr, tol); ConfigError names the bad value."""
    c = dict(c)
    Problem(K=c["K"], n=c["n"], d=c["d"], lambda_W=c["lambda_W"], lambda_H=c["lambda_H"],
            lambda_b=c["lambda_b"], bias=c["bias"], loss=c["loss"], alpha=c["alpha"], M=c["M"])
    check_optimizer(c["optimizer"])
    if c["loss"] == "mse":  # vanilla MSE: alpha and M play no role
        c["alpha"], c["M"] = 1.0, 1.0
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


def theory_row(c: dict) -> tuple[float | None, str | None]:
    """(f*, regime) where the closed form applies (vanilla MSE; CE with d >= K-1), else (None, None)."""
    if c["loss"] == "mse":
        g = mse_global_min(c["K"], c["n"], c["d"], c["lambda_W"], c["lambda_H"], c["lambda_b"], bias=c["bias"])
        return g.f_star, g.regime
    if c["loss"] == "ce" and c["d"] >= c["K"] - 1 and c["lambda_W"] > 0 and c["lambda_H"] > 0:
        g = ce_global_min(c["K"], c["n"], c["d"], c["lambda_W"], c["lambda_H"], c["lambda_b"])
        return g.f_star, g.regime
    return None, None


@dataclasses.dataclass(frozen=True)
class Bucket:
    family: str  # full: "mse" (vanilla and rescaled) or "ce"; reduced: "mse" or "rescaled_mse"
    optimizer: str
    K: int
    N: int  # 0 for reduced dynamics (nothing has shape N)
    d: int
    dynamics: str = "full"


REDUCED_AUTO_MIN_N = 256  # `auto` uses the reduced dynamics from this many samples per class


def config_dynamics(c: dict, dynamics: str) -> str:
    """The dynamics a configuration runs with: ``full``, ``reduced``, or ``auto`` = reduced where it
    is exact (MSE family, full batch, GD / heavy-ball / Nesterov / L-BFGS) and n >= 256."""
    from nclandscape.reduced import resolve_dynamics

    how = resolve_dynamics(dynamics, c["loss"], c["optimizer"])
    if dynamics == "auto" and c["n"] < REDUCED_AUTO_MIN_N:
        return "full"
    return how


def plan_buckets(configs: list[dict], indices, dynamics: str = "auto") -> dict[Bucket, list[int]]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i in indices:
        c = configs[i]
        dyn = config_dynamics(c, dynamics)
        if dyn == "reduced":
            key = (c["loss"], c["optimizer"], _pow2(c["K"]), 0, _pow2(c["d"]), dyn)
        else:
            fam = "ce" if c["loss"] == "ce" else "mse"
            key = (fam, c["optimizer"], _pow2(c["K"]), _pow2(c["K"] * c["n"]), _pow2(c["d"]), dyn)
        groups[key].append(i)
    out = {}
    for (fam, opt, _, n_key, _, dyn), idx in groups.items():
        K = max(configs[i]["K"] for i in idx)
        N = 0 if dyn == "reduced" else max(configs[i]["K"] * configs[i]["n"] for i in idx)
        d = max(configs[i]["d"] for i in idx)
        out[Bucket(fam, opt, K, N, d, dyn)] = idx
    return out


INT_INPUTS = ("K", "n", "d", "steps_max", "seed")
FLOAT_INPUTS = ("lambda_W", "lambda_H", "lambda_b", "alpha", "M", "lr", "tol", "scale", "bias")


def _problem_data(x, bucket: "Bucket", dtype) -> UFMData:
    """Targets and masks of one configuration, built from its integers inside the program."""
    K, n, d = x["K"], x["n"], x["d"]
    j = jnp.arange(bucket.N)
    valid = j < K * n
    cls = j // jnp.maximum(n, 1)
    Y = ((jnp.arange(bucket.K)[:, None] == cls[None, :]) & valid[None, :]).astype(dtype)
    return UFMData(
        Y=Y,
        sample_mask=valid.astype(dtype),
        class_mask=(jnp.arange(bucket.K) < K).astype(dtype),
        dim_mask=(jnp.arange(bucket.d) < d).astype(dtype),
        bias=x["bias"],
    )


def _hparams(x) -> HParams:
    return HParams(x["lambda_W"], x["lambda_H"], x["lambda_b"], x["alpha"], x["M"])


FUSED_CHOICES = ("auto", "pallas", "xla", "off")


def check_fused(fused: str) -> str:
    """Validate the ``[sweep] fused`` setting (``pallas`` needs a GPU backend)."""
    if fused not in FUSED_CHOICES:
        raise ConfigError(f"fused={fused!r} is not allowed: choose one of {', '.join(FUSED_CHOICES)}")
    if fused == "pallas" and jax.default_backend() != "gpu":
        raise ConfigError(f"fused='pallas' runs a GPU kernel, and this machine's JAX backend is "
                          f"{jax.default_backend()!r}: use fused = 'auto' or 'xla'")
    return fused


def fused_backend_for(bucket: "Bucket", fused: str) -> str:
    """The fused-solver backend a bucket runs with (``"off"``: optax steps), from the ``fused``
    setting: only reduced vanilla-MSE buckets with GD / heavy-ball / Nesterov are fusable."""
    from nclandscape.reduced.fused import FUSED_OPTIMIZERS, resolve_backend

    check_fused(fused)
    if fused == "off" or bucket.dynamics != "reduced" or bucket.family != "mse" or bucket.optimizer not in FUSED_OPTIMIZERS:
        return "off"
    return resolve_backend(fused)


def make_programs(bucket: "Bucket", dtype, *, hessian: bool = False, fused: str = "off"):
    """``(solve_one, metrics_one)`` of one configuration of a bucket.

    ``solve_one(x) -> (final_state, outputs)`` runs the optimiser; ``metrics_one(x, final_state)
    -> outputs`` computes the NC metrics (and Hessian columns); one program runs both. ``fused``
    is the backend of :func:`nclandscape.reduced.fused.fused_reduced_solve` for a fusable reduced
    bucket (see :func:`fused_backend_for`), ``"off"`` for optax steps.
    """
    if bucket.dynamics == "reduced":
        from nclandscape.reduced import balanced_reduced_data, reduced_init, reduced_metrics, reduced_solve
        from nclandscape.reduced.fused import fused_reduced_solve

        def solve_one(x):
            rdata = balanced_reduced_data(x["K"], x["n"], x["d"], x["bias"], K_max=bucket.K, d_max=bucket.d, dtype=dtype)
            rp0, rdata = reduced_init(jax.random.PRNGKey(x["seed"]), rdata, scale=x["scale"], loss=bucket.family)
            if fused != "off":
                r = fused_reduced_solve(rp0, rdata, _hparams(x), optimizer=bucket.optimizer, lr=x["lr"],
                                        max_steps=x["steps_max"], tol=x["tol"], backend=fused)
            else:
                r = reduced_solve(rp0, rdata, _hparams(x), loss=bucket.family, optimizer=bucket.optimizer,
                                  lr=x["lr"], max_steps=x["steps_max"], tol=x["tol"])
            out = {"objective": r.value, "grad_norm": r.grad_norm, "steps": r.steps, "status": r.status}
            return (r.params, rdata), out

        def metrics_one(x, state):
            rparams, rdata = state
            m = reduced_metrics(rparams, rdata)
            return {k: v for k, v in m._asdict().items()}

        return solve_one, metrics_one

    objective = objective_for("ce" if bucket.family == "ce" else "mse")
    if hessian:
        from nclandscape.hessian import sweep_columns

    def solve_one(x):
        data = _problem_data(x, bucket, dtype)
        p0 = init_params(jax.random.PRNGKey(x["seed"]), data, scale=x["scale"])
        r = solve(objective, p0, data, _hparams(x), optimizer=bucket.optimizer, lr=x["lr"],
                  max_steps=x["steps_max"], tol=x["tol"])
        out = {"objective": r.value, "grad_norm": r.grad_norm, "steps": r.steps, "status": r.status}
        return r.params, out

    def metrics_one(x, params):
        data = _problem_data(x, bucket, dtype)
        m = nc_metrics(params.W, params.H, params.b * data.bias, data.Y,
                       sample_mask=data.sample_mask, class_mask=data.class_mask, dim=x["d"])
        out = dict(m._asdict())
        if hessian:
            out.update(sweep_columns(objective, params, data, _hparams(x)))
        return out

    return solve_one, metrics_one


def _finish(outs: dict, status, dtype) -> dict:
    """Metrics of diverged configurations are NaN."""
    nan = jnp.asarray(jnp.nan, dtype)
    ok = status != 1
    return {k: (jnp.where(ok, v, nan) if jnp.issubdtype(v.dtype, jnp.floating) else v) for k, v in outs.items()}


class _Programs:
    """Compiled chunk programs, one per (bucket, chunk size, dtype, options)."""

    def __init__(self):
        self.cache: dict = {}

    def get(self, bucket: "Bucket", chunk: int, dtype, mesh, *, hessian: bool, fused: str = "off"):
        key = (bucket, chunk, jnp.dtype(dtype).name, hessian, id(mesh), fused)
        if key not in self.cache:
            solve_one, metrics_one = make_programs(bucket, dtype, hessian=hessian, fused=fused)

            def run_local(xs):
                TRACE_COUNTS[bucket] += 1  # Python side effect: runs once per trace
                state, outs = jax.vmap(solve_one)(xs)
                outs.update(jax.vmap(metrics_one)(xs, state))
                return _finish(outs, outs["status"], dtype)

            # shard_map: every device runs its own slice with its own while-loop, so devices
            # never wait on each other (no collective in the loop condition).
            spec = jax.sharding.PartitionSpec("config")
            prog = jax.jit(_shard_map(run_local, mesh, spec))
            self.cache[key] = prog
        return self.cache[key]


PROGRAMS = _Programs()


def _shard_map(f, mesh, spec):
    if hasattr(jax, "shard_map"):
        return jax.shard_map(f, mesh=mesh, in_specs=(spec,), out_specs=spec, check_vma=False)
    from jax.experimental.shard_map import shard_map  # older jax

    return shard_map(f, mesh=mesh, in_specs=(spec,), out_specs=spec, check_rep=False)


def _mesh():
    devices = np.asarray(jax.devices())
    return jax.sharding.Mesh(devices, ("config",))


def _to_global(arr: np.ndarray, sharding) -> jax.Array:
    return jax.make_array_from_callback(arr.shape, sharding, lambda idx: arr[idx])


def _to_host(x) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


# Buckets whose Pallas kernel failed to compile or run on this machine: they use the plain-JAX loop.
PALLAS_FAILED: set = set()


def run_chunk(bucket: Bucket, configs: list[dict], dtype, *, chunk: int, hessian: bool = False,
              fused: str = "auto") -> list[dict]:
    """Run ``configs`` (at most ``chunk``) of one bucket; returns one output dict per config."""
    mesh = _mesh()
    ndev = mesh.devices.size
    size = chunk
    if size % ndev:
        size += ndev - size % ndev
    real = len(configs)
    if real > size:
        raise ValueError(f"{real} configurations do not fit a chunk of {size}")
    padded = configs + [configs[0]] * (size - real)
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("config"))
    xs = {}
    for k in INT_INPUTS:
        xs[k] = _to_global(np.asarray([c[k] for c in padded], np.int32), sharding)
    np_dtype = np.dtype(jnp.dtype(dtype).name)
    for k in FLOAT_INPUTS:
        xs[k] = _to_global(np.asarray([float(c[k]) for c in padded], np_dtype), sharding)
    backend = fused_backend_for(bucket, fused)
    if backend == "pallas" and bucket in PALLAS_FAILED:
        backend = "xla"
    try:
        out = PROGRAMS.get(bucket, size, dtype, mesh, hessian=hessian, fused=backend)(xs)
    except Exception as e:  # noqa: BLE001 - only the GPU kernel path falls back, and says so
        if backend != "pallas":
            raise
        import warnings

        warnings.warn(f"the fused Pallas kernel failed on {jax.devices()[0].device_kind} ({type(e).__name__}: "
                      f"{str(e).splitlines()[0][:300]}); this bucket runs the same loop as plain JAX (--fused xla)")
        PALLAS_FAILED.add(bucket)
        out = PROGRAMS.get(bucket, size, dtype, mesh, hessian=hessian, fused="xla")(xs)
    host = {k: _to_host(v)[:real] for k, v in out.items()}
    return [{k: host[k][i].item() for k in host} for i in range(real)]


def _row(index: int, c: dict, o: dict, dynamics: str) -> dict:
    f_star, regime = theory_row(c)
    status = STATUS_NAMES[int(o.pop("status"))]
    row = {"index": index, "config_id": config_id(c)}
    row.update({k: c[k] for k in INPUT_COLUMNS})
    row.update(o)
    row["status"] = status
    if "hessian_method" in row:
        from nclandscape.hessian import HESSIAN_METHODS

        row["hessian_method"] = HESSIAN_METHODS[int(row["hessian_method"])]
    row["f_star"] = f_star
    row["gap"] = (o["objective"] - f_star) if (f_star is not None and status != "diverged") else None
    row["regime"] = regime
    row["dynamics"] = dynamics
    return row


@dataclasses.dataclass
class SweepSummary:
    total: int
    computed: int
    skipped: int
    counts: dict
    seconds: float
    buckets: int
    out_dir: str

    def line(self) -> str:
        c = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))
        return (f"{self.total} configurations ({c}); computed {self.computed}, resumed {self.skipped}, "
                f"{self.buckets} shape bucket(s), {self.seconds:.1f} s -> {self.out_dir}/results.parquet")


def run_sweep(spec: SweepSpec, out_dir, *, progress: bool = True, chunk_size: int | None = None,
              max_chunks: int | None = None) -> SweepSummary:
    """Run every configuration of ``spec`` not yet in ``out_dir``; write parts and the table.

    ``max_chunks`` stops after that many chunks (tests use it to simulate an interruption).
    """
    from tqdm.auto import tqdm

    dtype = jnp.zeros(()).dtype
    hessian = bool(spec.engine.get("hessian", False))
    fused = check_fused(str(spec.engine.get("fused", "auto")))
    chunk_size = int(chunk_size or spec.engine.get("chunk_size", 1024))
    if chunk_size < 1:
        raise ConfigError(f"chunk_size={chunk_size}: give an integer >= 1")
    raw = spec.configs()
    configs = []
    for i, c in enumerate(raw):
        try:
            configs.append(resolve_config(c, dtype))
        except ConfigError as e:
            shown = {k: c[k] for k in ("K", "n", "d", "lambda_W", "lambda_H", "lambda_b", "loss", "optimizer")}
            raise ConfigError(f"configuration {i} {shown}: {e}") from None
    ids = [config_id(c) for c in configs]
    store = ResultStore(out_dir)
    meta = {"spec": spec.to_dict(), "n_configurations": len(configs), "dtype": jnp.dtype(dtype).name,
            "devices": [str(d) for d in jax.devices()], "processes": jax.process_count(),
            "jax_version": jax.__version__, "input_columns": list(INPUT_COLUMNS),
            "output_columns": list(OUTPUT_COLUMNS)}
    resume_key = {"spec": spec.to_dict(), "dtype": jnp.dtype(dtype).name}
    for c in configs:  # fail early (before any work) on a dynamics that cannot run
        config_dynamics(c, str(spec.engine.get("dynamics", "auto")))
    multi = jax.process_count() > 1
    if multi:  # a shared filesystem: process 0 creates the folder, then everybody reads it
        from jax.experimental import multihost_utils
    if jax.process_index() == 0:
        store.open(meta, resume_key=resume_key)
    if multi:
        multihost_utils.sync_global_devices("nclandscape-sweep-open")
        store.open(meta, resume_key=resume_key)
    done = store.done_ids()
    if multi:
        multihost_utils.sync_global_devices("nclandscape-sweep-start")
    todo = [i for i in range(len(configs)) if ids[i] not in done]
    dynamics = str(spec.engine.get("dynamics", "auto"))
    buckets = plan_buckets(configs, todo, dynamics)
    t0 = time.perf_counter()
    chunks_run = 0
    computed = 0
    with tqdm(total=len(todo), unit="cfg", disable=not progress or jax.process_index() != 0,
              desc="sweep", dynamic_ncols=True) as bar:
        for bucket, idx in sorted(buckets.items(), key=lambda kv: (kv[0].family, kv[0].optimizer, kv[0].N * kv[0].d)):
            chunk = min(chunk_size, len(idx))
            for s in range(0, len(idx), chunk):
                if max_chunks is not None and chunks_run >= max_chunks:
                    break
                sel = idx[s : s + chunk]
                outs = run_chunk(bucket, [configs[i] for i in sel], dtype, chunk=chunk, hessian=hessian, fused=fused)
                rows = [_row(i, configs[i], o, bucket.dynamics) for i, o in zip(sel, outs)]
                if jax.process_index() == 0:
                    store.write_part(rows, tag=f"{sel[0]:07d}")
                chunks_run += 1
                computed += len(sel)
                bar.update(len(sel))
                bar.set_postfix(bucket=f"{bucket.optimizer}/{bucket.family}/{bucket.dynamics} K{bucket.K} N{bucket.N} d{bucket.d}")
    seconds = time.perf_counter() - t0
    table = store.consolidate() if jax.process_index() == 0 else None
    counts = Counter(table.column("status").to_pylist()) if table is not None else {}
    return SweepSummary(len(configs), computed, len(configs) - len(todo), dict(counts), seconds,
                        len(buckets), str(out_dir))
