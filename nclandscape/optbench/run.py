"""Run the benchmark: every seed of one optimiser at once (``vmap``), recorded every few steps.

For each optimiser the seeds' states are batched with ``vmap`` and advanced by a compiled
``lax.fori_loop`` of steps up to the next record point (a *chunk*: ``record_every`` steps, or
log-spaced with ``records_per_decade``; the length is an array, so one compiled program serves
every chunk length); after each chunk the full objective, gradient
norm and NC metrics of every seed are evaluated by a second compiled function.

Same numbers as ``solve``: a seed starts at ``init_params(PRNGKey(seed), data, scale=scale)`` and
each step is ``nclandscape.solve.make_step`` with ``make_optimizer``'s transformation and
``init_opt_state``'s learning rate; a seed stops (its state is frozen) under exactly ``solve``'s
rule — ``‖∇f‖ <= tol·λ_s`` (``solve.grad_tolerance``) or a non-finite value — so a seed's row after ``steps`` steps is what
``solve_problem(problem, optimizer=..., steps=steps, seed=seed, tol=tol)`` returns. Minibatch
``sgd`` (``batch_size < N``) steps on ``sgd.minibatch_objective`` and never stops early.

Wall time: each chunk is timed on the host (``time.perf_counter`` around the compiled call and
``block_until_ready``); a record's ``time_s`` is the cumulative optimiser time of the batch of
all seeds up to it. Compilation (done ahead of time) and the metric evaluations are excluded and
reported separately. Time therefore has the resolution of one chunk.
"""
from __future__ import annotations

import json
import os
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nclandscape.errors import ConfigError
from nclandscape.optbench.config import BenchConfig
from nclandscape.optbench.sgd import batch_key, make_minibatch_step, minibatch_steps
from nclandscape.optimizers import optimizer_spec
from nclandscape.solve import (
    default_tol, grad_tolerance, init_opt_state, make_optimizer, make_solver, make_step, start_state, tree_norm,
)
from nclandscape.ufm import init_params, mask_params

RECORD_FIELDS = ("value", "grad_norm", "nc1", "nc2", "nc3", "nc4", "numerical_rank", "min_cos_margin")


class Record(NamedTuple):
    """What is stored for every seed at every record point."""

    steps_taken: jax.Array
    value: jax.Array
    grad_norm: jax.Array
    nc1: jax.Array
    nc2: jax.Array
    nc3: jax.Array
    nc4: jax.Array
    numerical_rank: jax.Array
    min_cos_margin: jax.Array
    l_perp: jax.Array  # L⊥ of the MSE decomposition (docs/central_path.md); NaN unless vanilla MSE
    l_perp_over_f: jax.Array


def bench_dtype(config: BenchConfig):
    if config.x64 and not jax.config.jax_enable_x64:
        raise ConfigError("x64=True needs jax_enable_x64 (the CLI sets it with --x64)")
    return jnp.float64 if config.x64 else jnp.float32


def tol_of(config: BenchConfig, dtype) -> float:
    return default_tol(dtype) if config.tol is None else float(config.tol)


def seed_keys(seeds: int):
    """``(seeds, 2)`` keys; row ``s`` is exactly ``jax.random.PRNGKey(s)`` as ``solve`` uses."""
    return jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])


class CompileKey(NamedTuple):
    """The static part of one optimiser run (hashable): what selects a compiled program. Everything
    else (data, λ's, learning rate, tol) is an array argument, so problems of one shape share it."""

    solve_name: str  # the nclandscape.solve optimiser name of the step
    loss: str
    minibatch: bool
    batch_size: int
    momentum: float | None  # heavy-ball coefficient (None: the optimiser has none)
    lbfgs_history: int


def compile_key_of(config: BenchConfig, name: str) -> CompileKey:
    return CompileKey(config.solve_name(name), config.loss, config.minibatch(name), int(config.batch_size or config.N),
                config.momentum_of(name), int(config.lbfgs_history))


class Runner(NamedTuple):
    """Pure functions of one optimiser for ONE seed; the module-level jitted functions vmap them."""

    init: object  # (params0, data, hparams, lr) -> SolveState
    chunk: object  # (state, key, data, hparams, tol, start, length) -> SolveState; start: steps done
    active: object  # (state, tol) -> bool: solve's continuation rule


def make_runner(spec: CompileKey) -> Runner:
    from nclandscape.objectives import objective_for

    objective = objective_for(spec.loss)
    if optimizer_spec(spec.solve_name).solver is not None:  # not an optax method: its own init and step
        def init(params0, data, hparams, lr):
            return make_solver(objective, data, hparams, optimizer=spec.solve_name).init(params0)

        def step_of(data, hparams):
            return make_solver(objective, data, hparams, optimizer=spec.solve_name).step
    else:
        opt = make_optimizer(spec.solve_name, momentum=spec.momentum, memory_size=spec.lbfgs_history)

        def init(params0, data, hparams, lr):
            p0 = mask_params(params0, data)
            v0, g0 = jax.value_and_grad(objective)(p0, data, hparams)
            return start_state(p0, init_opt_state(opt, spec.solve_name, p0, lr), v0, g0)

        def step_of(data, hparams):
            return make_step(objective, data, hparams, opt, spec.solve_name)[0]

    def active(s, tol):
        # solve's while-loop condition (its step < max_steps part is the chunk count here).
        return (s.grad_norm > tol) & jnp.isfinite(s.value) & jnp.isfinite(s.grad_norm)

    def chunk(s, key, data, hparams, tol, start, length):
        if spec.minibatch:
            mb_step = make_minibatch_step(spec.loss, data, hparams, opt)
            params, opt_state = minibatch_steps(mb_step, s.params, s.opt_state, batch_key(key), start, length,
                                                num_samples=data.Y.shape[1], batch_size=spec.batch_size,
                                                dtype=data.Y.dtype)
            return s._replace(params=params, opt_state=opt_state, step=s.step + length)

        step = step_of(data, hparams)

        def body(_, s):
            go = active(s, tol)
            new = step(s)
            return jax.tree_util.tree_map(lambda a, b: jnp.where(go, a, b), new, s)

        # A traced length: one compiled program serves every chunk length (the remainder too).
        return jax.lax.fori_loop(0, length, body, s)

    return Runner(init, chunk, active)


@partial(jax.jit, static_argnames=("spec",))
def init_states(params0, data, hparams, lr, *, spec: CompileKey):
    """Batched initial solver states (one per seed)."""
    return jax.vmap(make_runner(spec).init, in_axes=(0, None, None, None))(params0, data, hparams, lr)


@partial(jax.jit, static_argnames=("spec",))
def active_seeds(states, tol, *, spec: CompileKey):
    return jax.vmap(make_runner(spec).active, in_axes=(0, None))(states, tol)


@partial(jax.jit, static_argnames=("spec",))
def run_chunk(states, keys, data, hparams, tol, start, length, *, spec: CompileKey):
    """``length`` (an integer array) steps of every seed after ``start`` steps, vmapped."""
    chunk = make_runner(spec).chunk
    return jax.vmap(lambda s, k: chunk(s, k, data, hparams, tol, start, length))(states, keys)


_COMPILED: dict = {}


def compiled_chunk(states, keys, data, hparams, tol, start, length, *, spec: CompileKey):
    """Ahead-of-time compiled ``run_chunk`` (so compilation is timed apart from running), cached
    per process by spec and argument shapes/dtypes."""
    args = (states, keys, data, hparams, tol, start, length)
    sig = (spec, jax.tree_util.tree_structure(args),
           tuple((jnp.shape(x), jnp.result_type(x)) for x in jax.tree_util.tree_leaves(args)))
    if sig not in _COMPILED:
        _COMPILED[sig] = run_chunk.lower(*args, spec=spec).compile()
    return _COMPILED[sig]


def record_one(params, data, hparams, *, loss: str):
    """Full objective, gradient norm and NC metrics of one seed's parameters (as ``solve_problem``
    computes them: ``nc_metrics(W, H, b * bias, Y)``)."""
    from nclandscape.metrics import nc_metrics
    from nclandscape.objectives import loss_of, objective_for

    value, g = jax.value_and_grad(objective_for(loss))(params, data, hparams)
    m = nc_metrics(params.W, params.H, params.b * data.bias, data.Y)
    perp = jnp.full((), jnp.nan, value.dtype)
    if loss_of(loss).decomposition:
        from nclandscape.central_path import decomposition

        perp = decomposition(params.W, params.H, params.b * data.bias, data.Y, hparams, sample_mask=data.sample_mask,
                             class_mask=data.class_mask, bias=data.bias).perp
    return (value, tree_norm(g), *m, perp, perp / value)


# Compiled once per (shapes, dtype, loss) and shared by every optimiser of a run (and every run of
# a process): the initial draw and the metric evaluation do not depend on the optimiser.
init_batch = jax.jit(jax.vmap(lambda key, data, scale: init_params(key, data, scale=scale), in_axes=(0, None, None)))
record_batch = jax.jit(
    lambda params, data, hparams, loss: jax.vmap(lambda p: record_one(p, data, hparams, loss=loss))(params),
    static_argnames=("loss",),
)


def _record(state, data, hparams, loss) -> dict:
    out = record_batch(state.params, data, hparams, loss=loss)
    rec = Record(state.step, *out)
    return {k: np.asarray(v) for k, v in jax.block_until_ready(rec)._asdict().items()}


def initial_params(config: BenchConfig, data):
    """Every seed's starting point ``init_params(PRNGKey(seed), data, scale)``, batched."""
    return init_batch(seed_keys(config.seeds), data, jnp.asarray(config.scale, data.Y.dtype))


def run_optimizer(config: BenchConfig, name: str, *, params0=None, progress: bool = False) -> tuple[dict, dict]:
    """Run all seeds of one optimiser. Returns ``(columns, meta)``: ``columns`` maps each field to
    a flat array over (record, seed) rows (``step`` nominal iteration, ``seed``, ``time_s``,
    ``steps_taken`` and the metrics); ``meta`` holds timings and settings. ``params0``: the
    batched starting points (``initial_params``), computed here when not given."""
    dtype = bench_dtype(config)
    problem = config.problem()
    data = problem.data(dtype=dtype)
    hparams = problem.hparams(dtype=dtype)
    tol = jnp.asarray(grad_tolerance(tol_of(config, dtype), hparams), dtype)  # solve's gradient threshold
    lr = jnp.asarray(config.lr_of(name), dtype)
    keys = seed_keys(config.seeds)
    spec = compile_key_of(config, name)
    minibatch = spec.minibatch

    t0 = time.perf_counter()
    if params0 is None:
        params0 = initial_params(config, data)
    state = jax.block_until_ready(init_states(params0, data, hparams, lr, spec=spec))
    active_seeds(state, tol, spec=spec)
    lengths = np.diff([0] + config.record_steps()).tolist()
    compiled = compiled_chunk(state, keys, data, hparams, tol, jnp.asarray(0), jnp.asarray(0), spec=spec)
    rec = _record(state, data, hparams, problem.loss)
    compile_s = time.perf_counter() - t0

    records, steps, times = [rec], [0], [0.0]
    opt_time = metric_time = 0.0
    done = 0
    it = lengths
    if progress:
        from tqdm import tqdm

        it = tqdm(lengths, desc=name, leave=False)
    for L in it:
        if not minibatch and not bool(np.any(np.asarray(active_seeds(state, tol, spec=spec)))):
            break  # every seed has stopped under solve's rule: later chunks change nothing
        t = time.perf_counter()
        state = jax.block_until_ready(compiled(state, keys, data, hparams, tol, jnp.asarray(done), jnp.asarray(L)))
        opt_time += time.perf_counter() - t
        done += L
        t = time.perf_counter()
        records.append(_record(state, data, hparams, problem.loss))
        metric_time += time.perf_counter() - t
        steps.append(done)
        times.append(opt_time)

    S = config.seeds
    cols = {
        "optimizer": np.array([name] * (len(records) * S)),
        "seed": np.tile(np.arange(S), len(records)),
        "step": np.repeat(np.asarray(steps), S),
        "time_s": np.repeat(np.asarray(times), S),
    }
    for k in Record._fields:
        cols[k] = np.concatenate([rc[k] for rc in records]).astype(np.int64 if k == "steps_taken" else np.float64)
    meta = {
        "optimizer": name,
        "solve_optimizer": config.solve_name(name),
        "minibatch": minibatch,
        "batch_size": config.batch_size if minibatch else config.N,
        "lr": None if optimizer_spec(name).line_search else float(lr),
        "tol": float(tol),
        "dtype": jnp.dtype(dtype).name,
        "compile_s": compile_s,
        "optimizer_time_s": opt_time,
        "metric_time_s": metric_time,
        "steps_run": done,
        "stopped_early": done < config.steps,
        "time_measurement": "cumulative host wall time of the compiled, vmapped chunk (all seeds at once), block_until_ready; compile and metric evaluation excluded",
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
    }
    return cols, meta


# --------------------------------------------------------------------------- files


def optimizer_path(out_dir, name: str) -> str:
    return os.path.join(out_dir, f"{name}.parquet")


def _atomic_write_bytes(path: str, write) -> None:
    from nclandscape.fileio import atomic_write

    atomic_write(path, write)


def write_optimizer_file(path: str, cols: dict, meta: dict) -> None:
    """One Parquet file per optimiser, written atomically (tmp + rename); meta in its schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(cols).replace_schema_metadata({"optbench": json.dumps(meta)})
    _atomic_write_bytes(path, lambda p: pq.write_table(table, p))


def read_optimizer_file(path: str) -> tuple[dict, dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"optbench"])
    return {k: table.column(k).to_numpy(zero_copy_only=False) for k in table.column_names}, meta


def write_json(path: str, obj: dict) -> None:
    def w(p):
        with open(p, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    _atomic_write_bytes(path, w)


def f_star_of(config: BenchConfig) -> tuple[float | None, str | None]:
    from nclandscape.theory import theory_applies, theory_for

    p = config.problem()
    if theory_applies(p):
        return float(theory_for(p)["f_star"]), "theory"
    return None, None


def run_benchmark(config: BenchConfig, out_dir: str, *, overwrite: bool = False, progress: bool = False, log=None) -> dict:
    """Run the optimisers of ``config`` not yet in ``out_dir``, then write summary and plots.

    Resuming: ``config.json`` must agree with ``config`` on everything but the optimiser list
    (else ConfigError, or with ``overwrite`` the old results are removed). Finished optimisers
    (their Parquet files, written atomically) are reused; only missing ones are run.
    """
    from nclandscape.optbench.summary import write_summary

    log = log or (lambda msg: None)
    os.makedirs(out_dir, exist_ok=True)
    cfg_path = os.path.join(out_dir, "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path) as f:
            old = BenchConfig.from_json(json.load(f)["config"])
        if old.resume_key() != config.resume_key():
            if not overwrite:
                diff = sorted(k for k, v in config.resume_key().items() if old.resume_key().get(k) != v)
                raise ConfigError(
                    f"{out_dir} holds a benchmark with different settings ({', '.join(diff)}): "
                    "choose another --out or pass --overwrite"
                )
            for fname in os.listdir(out_dir):
                if fname.endswith((".parquet", ".png")) or fname.startswith("summary."):
                    os.remove(os.path.join(out_dir, fname))
    for fname in os.listdir(out_dir):  # partial files of an interrupted run (never renamed into place)
        if ".tmp-" in fname or (fname.startswith(".") and fname.endswith(".tmp")):
            os.remove(os.path.join(out_dir, fname))
    f_star, source = f_star_of(config)
    write_json(cfg_path, {
        "config": config.to_json(),
        "f_star": f_star,
        "f_star_source": source,
        "N": config.N,
        "tol": tol_of(config, bench_dtype(config)),
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
    })
    ran, reused = [], []
    params0 = None
    for name in config.optimizers:
        path = optimizer_path(out_dir, name)
        if os.path.exists(path):
            reused.append(name)
            log(f"{name}: reusing {path}")
            continue
        if params0 is None:
            dtype = bench_dtype(config)
            params0 = initial_params(config, config.problem().data(dtype=dtype))
        cols, meta = run_optimizer(config, name, params0=params0, progress=progress)
        write_optimizer_file(path, cols, meta)
        ran.append(name)
        log(f"{name}: {meta['steps_run']} steps x {config.seeds} seeds in {meta['optimizer_time_s']:.2f} s "
            f"(compile {meta['compile_s']:.1f} s, metrics {meta['metric_time_s']:.1f} s)")
    summary = write_summary(out_dir)
    if not config.no_plots:
        from nclandscape.optbench.plots import plot_dir

        plot_dir(out_dir)
    return {"ran": ran, "reused": reused, "summary": summary}
