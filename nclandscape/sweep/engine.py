"""The sweep engine: thousands of UFM configurations as a few compiled, vmapped, sharded programs.

Pipeline:
1. :mod:`nclandscape.sweep.plan` validates every configuration and groups it by its static part
   (loss family, optimiser, dynamics) and a *shape bucket*: K, N = K n and d rounded up by
   :func:`~nclandscape.sweep.plan.padded_size`, a function of the configuration alone. Padded
   entries are masked and change nothing (the objective, gradient, optimiser and metrics ignore
   them; checked by tests against unpadded runs);
2. a bucket runs in chunks of a fixed size, compiled once per (bucket, chunk, slots): lanes run
   :func:`refill_loop` (a lane whose configuration stops takes the next pending one); each
   configuration builds its problem from a few integers and arrays, draws its padding-invariant
   initialisation from its seed, is solved with its own stopping rule and gets its NC metrics;
3. the chunk's inputs are sharded over every device (``jax.sharding``, one mesh axis
   ``"config"``), across hosts too after ``jax.distributed.initialize()``;
4. rows go to a Parquet part as soon as a chunk is done (see :mod:`nclandscape.sweep.store`);
5. while a chunk runs, the programs of the next :data:`COMPILE_AHEAD` chunks compile on worker
   threads (they were traced on the caller's thread), so the compiles of the next shape buckets
   overlap each other and the current one's computation; chunks still run one at a time, in order.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics
from nclandscape.objectives import loss_of, objective_for
from nclandscape.solve import STATUS_NAMES, certify, final_status, grad_tolerance, keep_going, make_solver, optax_solver
from nclandscape.sweep.plan import (
    Bucket, check_devices, check_fused, chunk_geometry, fused_backend_for, plan_buckets, resolve_config,
    resume_key_of, theory_row,
)
from nclandscape.sweep.settings import DEFAULTS
from nclandscape.sweep.spec import INPUT_COLUMNS, SweepSpec, config_id
from nclandscape.sweep.store import ResultStore
from nclandscape.ufm import HParams, UFMData, init_params

# The MSE decomposition's five terms (docs/central_path.md); NaN where the loss is not vanilla MSE
# or the dynamics is reduced.
DECOMPOSITION_COLUMNS = ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp", "L_features")
OUTPUT_COLUMNS = ("objective", "f_star", "gap", "grad_norm", "nc1", "nc2", "nc3", "nc4",
                  "numerical_rank", "min_cos_margin", "steps", "status") + DECOMPOSITION_COLUMNS


INT_INPUTS = ("K", "n", "d", "steps_max", "seed")
FLOAT_INPUTS = ("lambda_W", "lambda_H", "lambda_b", "alpha", "M", "lr", "tol", "scale", "bias")


def _problem_data(x, bucket: "Bucket", dtype) -> UFMData:
    """Targets and masks of one configuration, built from its integers inside the program."""
    K, n, d = x["K"], x["n"], x["d"]
    j = jnp.arange(bucket.N, dtype=K.dtype)
    valid = j < K * n
    cls = j // jnp.maximum(n, 1)
    Y = ((jnp.arange(bucket.K, dtype=K.dtype)[:, None] == cls[None, :]) & valid[None, :]).astype(dtype)
    return UFMData(
        Y=Y,
        sample_mask=valid.astype(dtype),
        class_mask=(jnp.arange(bucket.K, dtype=K.dtype) < K).astype(dtype),
        dim_mask=(jnp.arange(bucket.d, dtype=d.dtype) < d).astype(dtype),
        bias=x["bias"],
    )


def _hparams(x) -> HParams:
    return HParams(x["lambda_W"], x["lambda_H"], x["lambda_b"], x["alpha"], x["M"])


class Programs(NamedTuple):
    """The per-configuration pieces of a bucket's compiled program.

    Refill form (``solve_one is None``): ``init_one(x) -> state``, ``step_one(x, state) -> state``
    (one iteration), ``go_one(x, state) -> bool`` (the stopping rule's negation),
    ``final_one(x, state) -> (payload, outputs)``. Plain form (the fused solver runs a whole solve
    per call): ``solve_one(x) -> (payload, outputs)``. Both: ``metrics_one(x, payload) -> outputs``.
    """

    init_one: Callable | None
    step_one: Callable | None
    go_one: Callable | None
    final_one: Callable | None
    solve_one: Callable | None
    metrics_one: Callable


def _solve_outputs(s, gtol):
    return {"objective": s.value, "grad_norm": s.grad_norm, "steps": s.step, "status": final_status(s, gtol)}


def make_programs(bucket: "Bucket", dtype, *, hessian: bool = False, fused: str = "off") -> Programs:
    """The :class:`Programs` of one bucket. ``fused`` is the backend of
    :func:`nclandscape.reduced.fused.fused_reduced_solve` for a fusable reduced bucket (see
    :func:`fused_backend_for`), ``"off"`` for the refilled solver loop."""
    if bucket.dynamics == "reduced":
        from nclandscape.reduced import balanced_reduced_data, reduced_init, reduced_metrics
        from nclandscape.reduced.objective import reduced_objective
        from nclandscape.reduced.state import mask_reduced

        def reduced_start(x):
            rdata = balanced_reduced_data(x["K"], x["n"], x["d"], x["bias"], K_max=bucket.K, d_max=bucket.d, dtype=dtype)
            return reduced_init(jax.random.PRNGKey(x["seed"]), rdata, scale=x["scale"], loss=bucket.family)

        def metrics_one(x, state):
            rparams, rdata = state
            out = dict(reduced_metrics(rparams, rdata)._asdict())
            out.update({k: jnp.asarray(jnp.nan, dtype) for k in DECOMPOSITION_COLUMNS})
            return out

        if fused != "off":
            from nclandscape.reduced.fused import fused_reduced_solve

            def solve_one(x):
                rp0, rdata = reduced_start(x)
                r = fused_reduced_solve(rp0, rdata, _hparams(x), optimizer=bucket.optimizer, lr=x["lr"],
                                        max_steps=x["steps_max"], tol=x["tol"], backend=fused)
                out = {"objective": r.value, "grad_norm": r.grad_norm, "steps": r.steps, "status": r.status}
                return (r.params, rdata), out

            return Programs(None, None, None, None, solve_one, metrics_one)

        def reduced_solver(x, rdata):
            return optax_solver(lambda p: reduced_objective(p, rdata, _hparams(x)), optimizer=bucket.optimizer,
                                lr=x["lr"], project=lambda p: mask_reduced(p, rdata))

        def init_one(x):
            rp0, rdata = reduced_start(x)
            return reduced_solver(x, rdata).init(rp0), rdata

        def step_one(x, state):
            s, rdata = state
            return reduced_solver(x, rdata).step(s), rdata

        def go_one(x, state):
            return keep_going(state[0], x["steps_max"], grad_tolerance(x["tol"], _hparams(x)))

        def final_one(x, state):
            s, rdata = state
            return (s.params, rdata), _solve_outputs(s, grad_tolerance(x["tol"], _hparams(x)))

        return Programs(init_one, step_one, go_one, final_one, None, metrics_one)

    objective = objective_for(bucket.family)
    if hessian:
        from nclandscape.hessian import sweep_columns

    def solver(x):
        return make_solver(objective, _problem_data(x, bucket, dtype), _hparams(x), optimizer=bucket.optimizer,
                           lr=x["lr"])

    def init_one(x):
        data = _problem_data(x, bucket, dtype)
        return solver(x).init(init_params(jax.random.PRNGKey(x["seed"]), data, scale=x["scale"]))

    def step_one(x, s):
        return solver(x).step(s)

    def go_one(x, s):
        return keep_going(s, x["steps_max"], grad_tolerance(x["tol"], _hparams(x)))

    def final_one(x, s):
        return s.params, _solve_outputs(s, grad_tolerance(x["tol"], _hparams(x)))

    def metrics_one(x, params):
        data = _problem_data(x, bucket, dtype)
        m = nc_metrics(params.W, params.H, params.b * data.bias, data.Y,
                       sample_mask=data.sample_mask, class_mask=data.class_mask, dim=x["d"])
        out = dict(m._asdict())
        out.update(_decomposition_columns(x, params, data, loss_of(bucket.family).decomposition, dtype))
        if hessian:
            out.update(sweep_columns(objective, params, data, _hparams(x)))
        return out

    return Programs(init_one, step_one, go_one, final_one, None, metrics_one)


def _decomposition_columns(x, params, data: UFMData, mse_family: bool, dtype) -> dict:
    """The five terms of the MSE decomposition at the final point (vanilla MSE only, else NaN)."""
    nan = jnp.asarray(jnp.nan, dtype)
    if not mse_family:
        return {k: nan for k in DECOMPOSITION_COLUMNS}
    from nclandscape.central_path import JSON_KEYS, decomposition

    t = decomposition(params.W, params.H, params.b * data.bias, data.Y, _hparams(x), sample_mask=data.sample_mask,
                      class_mask=data.class_mask, bias=data.bias)
    vanilla = (x["alpha"] == 1.0) & (x["M"] == 1.0)
    return {JSON_KEYS[k]: jnp.where(vanilla, v, nan) for k, v in t._asdict().items()}


def _finish(outs: dict, status, dtype) -> dict:
    """Metrics of diverged configurations are NaN."""
    nan = jnp.asarray(jnp.nan, dtype)
    ok = status != 1
    return {k: (jnp.where(ok, v, nan) if jnp.issubdtype(v.dtype, jnp.floating) else v) for k, v in outs.items()}


def _tree_where(mask, new, old):
    def pick(a, b):
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree_util.tree_map(pick, new, old)


def refill_loop(progs: Programs, xs: dict, n_real, slots: int):
    """Run the first ``n_real`` configurations of ``xs`` (arrays of length C) on ``slots`` lanes.

    Every lane runs one configuration at a time; when its configuration stops (converged,
    diverged or out of steps) its outputs are stored and the lane is given the next pending
    configuration, so the loop costs about the sum of the configurations' steps, not C × the
    slowest. Lanes never interact: a configuration's numbers do not depend on its lane or on when
    it ran. Returns ``(payloads, outputs, rounds)``, ``rounds`` the iterations every lane paid for.
    """
    C = next(iter(xs.values())).shape[0]
    take = lambda idx: jax.tree_util.tree_map(lambda a: a[idx], xs)  # noqa: E731
    v_init, v_step, v_go, v_final = (jax.vmap(f) for f in (progs.init_one, progs.step_one, progs.go_one,
                                                            progs.final_one))
    # Every lane starts empty and is filled by the loop's refill (one traced copy of init).
    zeros = lambda t: jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), t)  # noqa: E731
    idx0 = jnp.zeros((slots,), jnp.int32)
    states = zeros(jax.eval_shape(v_init, take(idx0)))
    fin_shape = jax.eval_shape(v_final, take(idx0), states)
    buf = jax.tree_util.tree_map(lambda a: jnp.zeros((C,) + a.shape[1:], a.dtype), fin_shape)
    active = jnp.zeros((slots,), bool)
    empty = jnp.ones((slots,), bool)  # lanes to fill on the first iteration

    def body(c):
        idx, active, nxt, states, buf, rounds, empty = c
        xs_s = take(idx)
        done = active & ~v_go(xs_s, states)
        fin = v_final(xs_s, states)
        widx = jnp.where(done, idx, C)  # out of range: dropped
        buf = jax.tree_util.tree_map(lambda b, v: b.at[widx].set(v, mode="drop"), buf, fin)
        free = done | empty
        new = nxt + jnp.cumsum(free, dtype=jnp.int32) - 1
        refill = free & (new < n_real)
        idx = jnp.where(refill, new, idx)
        nxt = jnp.minimum(nxt + jnp.sum(free, dtype=jnp.int32), n_real)
        active = (active & ~done) | refill
        states = jax.lax.cond(jnp.any(refill), lambda st: _tree_where(refill, v_init(take(idx)), st),
                              lambda st: st, states)
        xs_s = take(idx)
        stepping = active & v_go(xs_s, states)
        states = jax.lax.cond(jnp.any(stepping), lambda st: _tree_where(stepping, v_step(xs_s, st), st),
                              lambda st: st, states)
        return idx, active, nxt, states, buf, rounds + jnp.any(stepping).astype(jnp.int32), jnp.zeros_like(empty)

    c = (idx0, active, jnp.asarray(0, jnp.int32), states, buf, jnp.asarray(0, jnp.int32), empty)
    c = jax.lax.while_loop(lambda c: jnp.any(c[1]) | jnp.any(c[6]), body, c)
    payloads, outs = c[4]
    return payloads, outs, c[5]


class _Programs:
    """Compiled chunk programs, one per (bucket, chunk size, slots, dtype, options, devices);
    a bounded cache (the least recently used program is dropped first)."""

    def __init__(self, maxsize: int = 32):
        self.cache: dict = {}
        self.maxsize = maxsize
        self.traces: Counter = Counter()  # traces per bucket (one compile per bucket and chunk shape)
        self.compiled: dict = {}  # the same keys -> Future of the compiled executable

    def clear(self):
        self.cache.clear()
        self.compiled.clear()
        self.traces.clear()

    def _remember(self, table: dict, key, value):
        """Store ``value`` as the most recently used entry of ``table``; drop the least recently used."""
        table.pop(key, None)
        table[key] = value
        while len(table) > self.maxsize:
            table.pop(next(iter(table)))
        return value

    @staticmethod
    def _key(bucket, chunk, slots, dtype, mesh, hessian, fused):
        return (bucket, chunk, slots, jnp.dtype(dtype).name, hessian, tuple(d.id for d in mesh.devices.flat), fused)

    def substitute(self, bucket: "Bucket", chunk: int, slots: int, dtype, mesh, *, hessian: bool, fused: str, program):
        """Serve ``program`` for this key from now on (a GPU kernel that failed: its plain-JAX twin)."""
        key = self._key(bucket, chunk, slots, dtype, mesh, hessian, fused)
        self._remember(self.cache, key, program)
        self._remember(self.compiled, key, _done_call(lambda: program))

    def executable(self, bucket: "Bucket", chunk: int, slots: int, dtype, mesh, *, hessian: bool, fused: str,
                   args: tuple, compile_with: Callable | None = None) -> Future:
        """The compiled program for ``args`` as a :class:`~concurrent.futures.Future`. It is traced
        and lowered here, in the caller's thread (so JAX's thread-local settings apply), and
        compiled by ``compile_with(fn)`` (a thread pool's ``submit``: the sweep compiles the next
        chunk's program while the current one runs) or at once."""
        key = self._key(bucket, chunk, slots, dtype, mesh, hessian, fused)
        fut = self.compiled.get(key)
        if fut is not None and not (fut.done() and fut.exception() is not None):
            return self._remember(self.compiled, key, fut)
        lowered = self.get(bucket, chunk, slots, dtype, mesh, hessian=hessian, fused=fused).lower(*args)
        return self._remember(self.compiled, key, (compile_with or _done_call)(lowered.compile))

    def get(self, bucket: "Bucket", chunk: int, slots: int, dtype, mesh, *, hessian: bool, fused: str = "off"):
        key = self._key(bucket, chunk, slots, dtype, mesh, hessian, fused)
        if key in self.cache:
            return self._remember(self.cache, key, self.cache[key])
        progs = make_programs(bucket, dtype, hessian=hessian, fused=fused)
        ndev = mesh.devices.size

        def run_local(xs, valid):
            self.traces[bucket] += 1  # Python side effect: runs once per trace
            n_real = jnp.sum(valid, dtype=jnp.int32)
            if progs.solve_one is not None:
                payload, outs = jax.vmap(progs.solve_one)(xs)
                rounds = jnp.max(jnp.where(valid, outs["steps"], 0))
            else:
                payload, outs, rounds = refill_loop(progs, xs, n_real, max(1, slots // ndev))
            outs = dict(outs)
            outs.update(jax.vmap(progs.metrics_one)(xs, payload))
            outs = _finish(outs, outs["status"], dtype)
            outs["_rounds"] = jnp.broadcast_to(rounds, valid.shape)
            return outs

        # shard_map: every device runs its own slice with its own loop, so devices never wait on
        # each other (no collective in the loop condition).
        spec = jax.sharding.PartitionSpec("config")
        prog = jax.jit(_shard_map(run_local, mesh, (spec, spec), spec))
        return self._remember(self.cache, key, prog)


def _done_call(fn) -> Future:
    """``fn()`` run now, as a finished Future (its result or its exception)."""
    f = Future()
    try:
        f.set_result(fn())
    except Exception as e:  # noqa: BLE001 - kept in the future, raised where it is read
        f.set_exception(e)
    return f


PROGRAMS = _Programs()


def _shard_map(f, mesh, in_specs, out_specs):
    if hasattr(jax, "shard_map"):
        return jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    from jax.experimental.shard_map import shard_map  # older jax

    return shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)


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


class ChunkResult(NamedTuple):
    rows: list  # one output dict per configuration
    slot_steps: int  # iterations paid for by all lanes of all devices (idle lanes included)


# Chunks prepared (traced, and compiling on as many worker threads) ahead of the one running. On
# the 2-core CPU one is best: the main job takes 21-23 s with 1 and 26-28 s with 2, whose two
# concurrent compiles contend with the running chunk.
COMPILE_AHEAD = 1


class PreparedChunk(NamedTuple):
    """A chunk's inputs, placed on the devices, and its program (a Future while it compiles)."""

    program: Future
    xs: dict
    valid: jax.Array
    order: list  # position -> index into the chunk's configurations (None: padding)
    real: int
    ndev: int
    per_dev: int
    slots: int
    backend: str
    key: tuple  # (bucket, size, slots, dtype, mesh, hessian) for the GPU-kernel fallback


def prepare_chunk(bucket: Bucket, configs: list[dict], dtype, *, chunk: int, slots: int = DEFAULTS.slots,
                  hessian: bool = False, fused: str = "auto", compile_with: Callable | None = None) -> PreparedChunk:
    """Place ``configs`` (at most ``chunk``) of one bucket on the devices and get its program
    (traced here; compiled by ``compile_with``, see :meth:`_Programs.executable`)."""
    mesh = _mesh()
    ndev = mesh.devices.size
    real = len(configs)
    if real > chunk:
        raise ValueError(f"{real} configurations do not fit a chunk of {chunk}")
    size, slots = chunk_geometry(chunk, slots, ndev)
    per_dev = size // ndev
    # Real configurations are dealt out to the devices in turn; each device's real ones come first.
    order = [None] * size
    for i in range(real):
        order[(i % ndev) * per_dev + i // ndev] = i
    padded = [configs[i] if i is not None else configs[0] for i in order]
    valid = np.asarray([i is not None for i in order])
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("config"))
    xs = {}
    for k in INT_INPUTS:
        xs[k] = _to_global(np.asarray([c[k] for c in padded], np.int32), sharding)
    np_dtype = np.dtype(jnp.dtype(dtype).name)
    for k in FLOAT_INPUTS:
        xs[k] = _to_global(np.asarray([float(c[k]) for c in padded], np_dtype), sharding)
    valid_g = _to_global(valid, sharding)
    backend = fused_backend_for(bucket, fused)
    try:
        program = PROGRAMS.executable(bucket, size, slots, dtype, mesh, hessian=hessian, fused=backend,
                                      args=(xs, valid_g), compile_with=compile_with)
    except Exception as e:  # noqa: BLE001 - a GPU kernel that fails to lower falls back when run
        program = Future()
        program.set_exception(e)
    return PreparedChunk(program, xs, valid_g, order, real, ndev, per_dev, slots, backend,
                         (bucket, size, slots, dtype, mesh, hessian))


def execute_chunk(p: PreparedChunk) -> ChunkResult:
    """Run a prepared chunk (waiting for its program if it is still compiling) and read its rows,
    in the order of its configurations."""
    try:
        out = p.program.result()(p.xs, p.valid)
    except Exception as e:  # noqa: BLE001 - only the GPU kernel path falls back, and says so
        if p.backend != "pallas":
            raise
        import warnings

        bucket, size, slots, dtype, mesh, hessian = p.key
        warnings.warn(f"the fused Pallas kernel failed on {jax.devices()[0].device_kind} ({type(e).__name__}: "
                      f"{str(e).splitlines()[0][:300]}); this bucket runs the same loop as plain JAX (--fused xla)")
        prog = PROGRAMS.get(bucket, size, slots, dtype, mesh, hessian=hessian, fused="xla")
        PROGRAMS.substitute(bucket, size, slots, dtype, mesh, hessian=hessian, fused=p.backend, program=prog)
        out = prog(p.xs, p.valid)
    host = {k: _to_host(v) for k, v in out.items()}
    rounds = host.pop("_rounds").reshape(p.ndev, p.per_dev)[:, 0]
    if p.backend != "off":  # one whole solve per configuration: each lane runs to the slowest
        slot_steps = int(rounds.sum()) * p.per_dev
    else:
        slot_steps = int(rounds.sum()) * (p.slots // p.ndev)
    pos = {i: k for k, i in enumerate(p.order) if i is not None}
    rows = [{k: host[k][pos[i]].item() for k in host} for i in range(p.real)]
    return ChunkResult(rows, slot_steps)


def run_chunk(bucket: Bucket, configs: list[dict], dtype, *, chunk: int, slots: int = DEFAULTS.slots,
              hessian: bool = False, fused: str = "auto") -> ChunkResult:
    """Run ``configs`` (at most ``chunk``) of one bucket on ``slots`` refilled lanes."""
    return execute_chunk(prepare_chunk(bucket, configs, dtype, chunk=chunk, slots=slots, hessian=hessian,
                                       fused=fused))


def _row(index: int, c: dict, o: dict, dynamics: str, dtype) -> dict:
    f_star, regime = theory_row(c)
    status = STATUS_NAMES[int(o.pop("status"))]
    status = certify(status, o["objective"], f_star, dtype)
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
    sum_steps: int = 0
    slot_steps: int = 0
    worst_rel_gap: float | None = None

    def line(self) -> str:
        c = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))
        ratio = f" (x{self.slot_steps / self.sum_steps:.2f})" if self.sum_steps else ""
        return (f"{self.total} configurations ({c}); computed {self.computed}, resumed {self.skipped}, "
                f"{self.buckets} shape bucket(s), steps {self.sum_steps} used / {self.slot_steps} paid{ratio}, "
                f"{self.seconds:.1f} s -> {self.out_dir}/results.parquet")

    def warning(self) -> str | None:
        """One line when some rows are not ``ok``: how many, the worst relative gap, what to change."""
        bad = {k: v for k, v in self.counts.items() if k != "ok"}
        if not bad:
            return None
        n = sum(bad.values())
        gap = "" if self.worst_rel_gap is None else f"; worst |f - f*|/f* = {self.worst_rel_gap:.3g}"
        what = ", ".join(f"{v} {k}" for k, v in sorted(bad.items()))
        return (f"warning: {n} of {self.total} rows are not ok ({what}{gap}): raise steps_max, use "
                f"optimizer = \"newton\" and x64 = true, or lower lr for diverged rows; plots mark these cells")


def _worst_rel_gap(table) -> float | None:
    if table is None or "gap" not in table.column_names:
        return None
    gaps, fs = table.column("gap").to_pylist(), table.column("f_star").to_pylist()
    rel = [abs(g) / max(abs(f), 1e-300) for g, f in zip(gaps, fs) if g is not None and f is not None]
    return max(rel) if rel else None


def run_sweep(spec: SweepSpec, out_dir, *, progress: bool = True, chunk_size: int | None = None,
              slots: int | None = None, max_chunks: int | None = None) -> SweepSummary:
    """Run every configuration of ``spec`` not yet in ``out_dir``; write parts, the table and
    ``stats.json`` (steps used and paid for).

    ``chunk_size`` and ``slots`` override the spec's settings (they do not change numbers);
    ``max_chunks`` stops after that many chunks (tests use it to simulate an interruption).
    """
    import json
    from pathlib import Path

    from tqdm.auto import tqdm

    settings = spec.engine.replace(chunk_size=chunk_size, slots=slots)
    dtype = settings.dtype
    hessian, chunk_size, slots, dynamics = settings.hessian, settings.chunk_size, settings.slots, settings.dynamics
    fused = check_fused(settings.fused)
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
    resume_key = resume_key_of(spec, dtype)
    # fail early (before any work or file) on a dynamics or a device set that cannot run
    plan = plan_buckets(configs, range(len(configs)), dynamics)
    check_devices(plan, jax.local_devices())
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
    left = {b: [i for i in idx if ids[i] not in done] for b, idx in plan.items()}
    buckets = dict(sorted(((b, idx) for b, idx in left.items() if idx), key=lambda kv: kv[1][0]))
    n_todo = sum(len(idx) for idx in buckets.values())
    t0 = time.perf_counter()
    chunks_run = 0
    computed = 0
    sum_steps = slot_steps = 0
    with tqdm(total=n_todo, unit="cfg", disable=not progress or jax.process_index() != 0,
              desc="sweep", dynamic_ncols=True) as bar:
        jobs = []  # (bucket, the configurations of one chunk, the bucket's chunk size)
        for bucket, idx in sorted(buckets.items(), key=lambda kv: (kv[0].family, kv[0].optimizer, kv[0].N * kv[0].d)):
            chunk = min(chunk_size, len(idx))
            jobs += [(bucket, idx[s : s + chunk], chunk) for s in range(0, len(idx), chunk)]
        if max_chunks is not None:
            jobs = jobs[:max_chunks]

        def prepare(job):
            bucket, sel, chunk = job
            return prepare_chunk(bucket, [configs[i] for i in sel], dtype, chunk=chunk, slots=slots,
                                 hessian=hessian, fused=fused, compile_with=pool.submit)

        # The next COMPILE_AHEAD chunks' programs are traced here and compiled on worker threads
        # while the current chunk runs (XLA releases the GIL for both), so compiling overlaps
        # computing. Chunks still run, and their parts are written, one at a time and in order.
        pool = ThreadPoolExecutor(max_workers=COMPILE_AHEAD, thread_name_prefix="nclandscape-compile")
        try:
            prepared, ahead = {}, 0
            for j, (bucket, sel, _) in enumerate(jobs):
                while ahead < min(len(jobs), j + 1 + COMPILE_AHEAD):
                    prepared[ahead] = prepare(jobs[ahead])
                    ahead += 1
                res = execute_chunk(prepared.pop(j))
                rows = [_row(i, configs[i], o, bucket.dynamics, dtype) for i, o in zip(sel, res.rows)]
                if jax.process_index() == 0:
                    store.write_part(rows, tag=f"{sel[0]:07d}")
                chunks_run += 1
                computed += len(sel)
                sum_steps += sum(int(r["steps"]) for r in rows)
                slot_steps += res.slot_steps
                bar.update(len(sel))
                bar.set_postfix(bucket=f"{bucket.optimizer}/{bucket.family}/{bucket.dynamics} K{bucket.K} N{bucket.N} d{bucket.d}")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    seconds = time.perf_counter() - t0
    table = store.consolidate() if jax.process_index() == 0 else None
    counts = Counter(table.column("status").to_pylist()) if table is not None else {}
    summary = SweepSummary(len(configs), computed, len(configs) - n_todo, dict(counts), seconds, len(buckets),
                           str(out_dir), sum_steps, slot_steps, _worst_rel_gap(table))
    if jax.process_index() == 0:
        path = Path(out_dir) / "stats.json"
        runs = []
        if path.exists():
            try:
                runs = json.loads(path.read_text()).get("runs", [])
            except (OSError, ValueError):
                runs = []
        runs.append({"computed": computed, "resumed": summary.skipped, "sum_steps": sum_steps,
                     "slot_steps": slot_steps, "seconds": seconds, "chunk_size": chunk_size, "slots": slots,
                     "devices": len(jax.devices())})
        stats = {"sum_steps": sum(r["sum_steps"] for r in runs), "slot_steps": sum(r["slot_steps"] for r in runs),
                 "counts": dict(counts), "worst_rel_gap": summary.worst_rel_gap, "runs": runs}
        store.write_json("stats.json", stats)
    return summary
