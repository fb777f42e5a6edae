"""``nclandscape sweep``: run a sweep spec (TOML) and/or axes given on the command line."""
from __future__ import annotations

NAME = "sweep"
HELP = "run thousands of UFM configurations as compiled, vmapped, sharded programs"
DESCRIPTION = """Run a sweep. SPEC is a TOML file (see experiments/sweeps/); axes from the command line
are added to it (or form the whole sweep). Re-running the same command after an interruption
resumes: only the missing configurations are computed. Columns / axis names: K, n, d, lambda_W,
lambda_H, lambda_b, loss, alpha, M, bias, optimizer, lr, steps_max, seed, scale, tol."""


def add_arguments(p):
    from nclandscape.reduced.state import DYNAMICS
    from nclandscape.sweep.settings import DEFAULTS, FUSED_CHOICES

    p.add_argument("spec", nargs="?", default=None, help="sweep spec (TOML); optional with --set/--grid/...")
    p.add_argument("--out", required=True, help="output folder (config.json, parts/, results.parquet, plots/)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fix an axis")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=v1,v2,...", help="a product axis")
    p.add_argument("--logspace", action="append", default=[], metavar="NAME=LO:HI:NUM", help="log-spaced product axis")
    p.add_argument("--linspace", action="append", default=[], metavar="NAME=LO:HI:NUM", help="linear product axis")
    p.add_argument("--zip", action="append", nargs="+", default=[], metavar="NAME=v1,v2", help="axes taken together")
    p.add_argument("--x64", action="store_true", help="float64 (default: the spec's x64, else float32)")
    p.add_argument("--chunk-size", type=int, default=None, help="configurations per compiled call and Parquet part "
                   f"(default: the spec's chunk_size, else {DEFAULTS.chunk_size})")
    p.add_argument("--slots", type=int, default=None, help="lanes per call; a lane whose configuration stops takes the "
                   f"next one (default: the spec's slots, else {DEFAULTS.slots})")
    p.add_argument("--hessian", action="store_true", help="add min_eig, index, hessian_method columns")
    p.add_argument("--dynamics", choices=DYNAMICS, default=None,
                   help="full simulation, exact class-reduced dynamics (MSE family, full batch, not Adam), or "
                        "auto: reduced where exact and n >= 256 (default)")
    p.add_argument("--fused", choices=FUSED_CHOICES, default=None,
                   help="reduced vanilla-MSE GD/heavy-ball/Nesterov buckets: the whole solve of a configuration in "
                        "one fused loop (pallas: one Triton kernel, GPU; xla: plain JAX), or off (optax steps); "
                        "auto = pallas on GPU, xla elsewhere (default)")
    p.add_argument("--no-plots", action="store_true", help="skip the spec's phase diagrams")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (multi-host; see README)")


def build_spec(args):
    from nclandscape.sweep.spec import SweepSpec, parse_cli_axes

    fixed, grid, zips = parse_cli_axes(args.set, args.grid, args.logspace, args.linspace, args.zip)
    if args.spec:
        base = SweepSpec.from_toml(args.spec)
        d = base.to_dict()
        for k in list(fixed) + list(grid) + [k for g in zips for k in g]:  # CLI overrides the file
            d["fixed"].pop(k, None)
            d["grid"].pop(k, None)
        fixed = {**d["fixed"], **fixed}
        grid = {**d["grid"], **grid}
        zips = [g for g in d["zip"] if not (set(g) & {k for z in zips for k in z} | set(fixed) | set(grid))] + zips
        engine = base.engine.to_dict()
    elif not (fixed or grid or zips):
        from nclandscape.errors import ConfigError

        raise ConfigError("give a SPEC file or at least one --set/--grid/--logspace/--linspace/--zip axis")
    else:
        engine = {}
    if not (fixed or grid or zips):
        from nclandscape.errors import ConfigError

        raise ConfigError(f"sweep spec {args.spec!r} defines no axis: give [fixed], [grid] or [[zip]] values, "
                          "or --set/--grid/... axes")
    from nclandscape.sweep.settings import EngineSettings

    settings = EngineSettings.from_dict(engine).replace(
        hessian=True if args.hessian else None, x64=True if args.x64 else None, dynamics=args.dynamics,
        fused=args.fused, chunk_size=args.chunk_size, slots=args.slots)
    return SweepSpec(fixed, grid, zips, settings)


# Host bytes per configuration while a sweep is planned: its dict, the resolved copy and its id
# take ~1.0 kB (tracemalloc, 10^4 configurations); the rest is room for its result row.
CONFIG_BYTES = 2000
DISTRIBUTED_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def validate(args):
    """Every check of ``sweep``, before any work or file: --out, --chunk-size, the spec (types,
    int32 limits, duplicates, engine settings, plots), every configuration, the distributed
    environment, and the memory of one chunk. Returns the spec."""
    import numpy as np

    from nclandscape.errors import ConfigError
    from nclandscape.validate import INT32_MAX, check_int, check_memory, check_out_dir, fmt_bytes, solver_bytes

    check_out_dir("--out", args.out)
    if args.chunk_size is not None:
        check_int("--chunk-size", args.chunk_size, lo=1)
    if args.slots is not None:
        check_int("--slots", args.slots, lo=1)
    spec = build_spec(args)
    settings = spec.engine
    if args.distributed:
        distributed_settings()
    n = len(spec)
    check_memory(f"planning {n} configurations", n * CONFIG_BYTES, "sweep fewer values (or split the sweep)",
                 host=True)

    from nclandscape.hessian.columns import DENSE_MAX
    from nclandscape.sweep.engine import OUTPUT_COLUMNS
    from nclandscape.sweep.plan import check_fused, config_dynamics, padded_size, resolve_config
    from nclandscape.sweep.spec import INPUT_COLUMNS, config_id

    check_fused(settings.fused)
    x64 = settings.x64
    dtype = np.float64 if x64 else np.float32
    seen: dict[str, int] = {}
    worst = 0
    for i, c in enumerate(spec.configs()):
        shown = {k: c[k] for k in ("K", "n", "d", "loss", "optimizer")}
        try:
            r = resolve_config(c, dtype)
            if r["K"] * r["n"] > INT32_MAX:
                raise ConfigError(f"K*n = {r['K'] * r['n']} samples: give at most {INT32_MAX} (int32 limit)")
            dyn = config_dynamics(r, settings.dynamics)
        except ConfigError as e:
            raise ConfigError(f"configuration {i} {shown}: {e}") from None
        cid = config_id(r)
        if cid in seen:
            raise ConfigError(f"configurations {seen[cid]} and {i} {shown} are the same once defaults are filled in "
                              "(lr/tol NaN = the default; alpha, M play no role for loss mse): list each once")
        seen[cid] = i
        N = r["K"] if dyn == "reduced" else r["K"] * r["n"]  # the reduced state has K columns, not N
        Kp, Np, dp = (padded_size(v) for v in (r["K"], N, r["d"]))  # the engine's padded shape
        b = solver_bytes(Kp, Np, dp, 8 if x64 else 4)
        P = Kp * dp + dp * Np + Kp
        if settings.hessian and P <= DENSE_MAX:
            b += 5 * P * P * (8 if x64 else 4)
        worst = max(worst, b)
    chunk = min(settings.chunk_size, n)
    check_memory(f"a chunk of {chunk} configurations ({fmt_bytes(worst)} each at the largest padded shape)",
                 chunk * worst, "lower --chunk-size (or [sweep] chunk_size), or the largest K, n, d")
    columns = set(INPUT_COLUMNS) | set(OUTPUT_COLUMNS) | {"regime", "dynamics", "index"}
    if settings.hessian:
        columns |= {"min_eig", "index", "hessian_method"}
    for i, pl in enumerate(settings.plots):
        if pl["color"] not in columns:
            raise ConfigError(f"[sweep] plots[{i}]: color = {pl['color']!r} is not a column: choose from "
                              f"{', '.join(sorted(columns))}")
    return spec


def distributed_settings() -> dict:
    """Keyword arguments of ``jax.distributed.initialize`` from the environment.

    ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID`` are passed explicitly when set (all three or none); with none of them set,
    JAX detects the cluster itself (SLURM, Open MPI, Kubernetes, Cloud TPU)."""
    import os

    from nclandscape.errors import ConfigError

    given = {k: os.environ.get(k, "").strip() for k in DISTRIBUTED_ENV}
    if not any(given.values()):
        return {}
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise ConfigError(f"--distributed: set {', '.join(missing)} too (give all of {', '.join(DISTRIBUTED_ENV)}, "
                          "or none of them under a cluster manager such as SLURM)")
    try:
        num, pid = int(given["JAX_NUM_PROCESSES"]), int(given["JAX_PROCESS_ID"])
    except ValueError:
        raise ConfigError("--distributed: JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers") from None
    if num < 1 or not 0 <= pid < num:
        raise ConfigError(f"--distributed: JAX_PROCESS_ID={pid} must be in [0, JAX_NUM_PROCESSES={num})")
    if ":" not in given["JAX_COORDINATOR_ADDRESS"]:
        raise ConfigError(f"--distributed: JAX_COORDINATOR_ADDRESS={given['JAX_COORDINATOR_ADDRESS']!r}: write HOST:PORT")
    return {"coordinator_address": given["JAX_COORDINATOR_ADDRESS"], "num_processes": num, "process_id": pid}


def main(args) -> int:
    import jax

    if args.distributed:  # before anything touches a JAX backend (validation may ask for memory)
        settings = distributed_settings()
        try:
            jax.distributed.initialize(**settings)
        except ValueError as e:  # JAX found no cluster to join
            from nclandscape.errors import ConfigError

            raise ConfigError(f"--distributed: {e} (set {', '.join(DISTRIBUTED_ENV)}, see README)") from None
    spec = validate(args)
    if spec.engine.x64:
        jax.config.update("jax_enable_x64", True)
    from pathlib import Path

    from nclandscape.sweep.engine import run_sweep
    from nclandscape.sweep.plots import phase_diagram
    from nclandscape.sweep.store import read_results

    summary = run_sweep(spec, args.out, progress=not args.quiet)
    if jax.process_index() != 0:
        return 0
    print(summary.line())
    warning = summary.warning()
    if warning:
        import sys

        print(warning, file=sys.stderr)
    if spec.engine.plots and not args.no_plots:
        table = read_results(args.out)
        for i, pl in enumerate(spec.engine.plots):
            pl = dict(pl)
            x, y, color = pl.pop("x"), pl.pop("y"), pl.pop("color")
            out = Path(args.out) / "plots" / f"phase_{color}_{x}_{y}_{i}.png"
            paths = phase_diagram(table, x=x, y=y, color=color, where=pl.pop("where", None), agg=pl.pop("agg", "median"), out=out)
            print("wrote " + ", ".join(str(p) for p in paths))
    return 0
