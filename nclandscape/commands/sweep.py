"""``nclandscape sweep``: run a sweep spec (TOML) and/or axes given on the command line."""
from __future__ import annotations

NAME = "sweep"
HELP = "run thousands of UFM configurations as compiled, vmapped, sharded programs"
DESCRIPTION = """Run a sweep. SPEC is a TOML file (see experiments/sweeps/); axes from the command line
are added to it (or form the whole sweep). Re-running the same command after an interruption
resumes: only the missing configurations are computed. Columns / axis names: K, n, d, lambda_W,
lambda_H, lambda_b, loss, alpha, M, bias, optimizer, lr, steps_max, seed, scale, tol."""


def add_arguments(p):
    p.add_argument("spec", nargs="?", default=None, help="sweep spec (TOML); optional with --set/--grid/...")
    p.add_argument("--out", required=True, help="output folder (config.json, parts/, results.parquet, plots/)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fix an axis")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=v1,v2,...", help="a product axis")
    p.add_argument("--logspace", action="append", default=[], metavar="NAME=LO:HI:NUM", help="log-spaced product axis")
    p.add_argument("--linspace", action="append", default=[], metavar="NAME=LO:HI:NUM", help="linear product axis")
    p.add_argument("--zip", action="append", nargs="+", default=[], metavar="NAME=v1,v2", help="axes taken together")
    p.add_argument("--x64", action="store_true", help="float64 (default float32)")
    p.add_argument("--chunk-size", type=int, default=None, help="configurations per compiled call and Parquet part "
                   "(default: the spec's chunk_size, else 1024)")
    p.add_argument("--slots", type=int, default=None, help="lanes per call; a lane whose configuration stops takes the "
                   "next one (default: the spec's slots, else 32)")
    p.add_argument("--hessian", action="store_true", help="add min_eig, index, hessian_method columns")
    p.add_argument("--dynamics", choices=["auto", "full", "reduced"], default=None,
                   help="full simulation, exact class-reduced dynamics (MSE family, full batch, not Adam), or "
                        "auto: reduced where exact and n >= 256 (default)")
    p.add_argument("--fused", choices=["auto", "pallas", "xla", "off"], default=None,
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
        engine = d["sweep"]
    elif not (fixed or grid or zips):
        from nclandscape.errors import ConfigError

        raise ConfigError("give a SPEC file or at least one --set/--grid/--logspace/--linspace/--zip axis")
    else:
        engine = {}
    if args.hessian:
        engine["hessian"] = True
    if args.x64:
        engine["x64"] = True
    if args.dynamics:
        engine["dynamics"] = args.dynamics
    if args.fused:
        engine["fused"] = args.fused
    return SweepSpec(fixed, grid, zips, engine)


def main(args) -> int:
    import jax

    spec = build_spec(args)
    if args.distributed:
        jax.distributed.initialize()
    if spec.engine.get("x64"):
        jax.config.update("jax_enable_x64", True)
    from pathlib import Path

    from nclandscape.sweep.engine import run_sweep
    from nclandscape.sweep.plots import phase_diagram
    from nclandscape.sweep.store import read_results

    summary = run_sweep(spec, args.out, progress=not args.quiet, chunk_size=args.chunk_size, slots=args.slots)
    if jax.process_index() != 0:
        return 0
    print(summary.line())
    warning = summary.warning()
    if warning:
        import sys

        print(warning, file=sys.stderr)
    if spec.engine.get("plots") and not args.no_plots:
        table = read_results(args.out)
        for i, pl in enumerate(spec.engine["plots"]):
            pl = dict(pl)
            x, y, color = pl.pop("x"), pl.pop("y"), pl.pop("color")
            out = Path(args.out) / "plots" / f"phase_{color}_{x}_{y}_{i}.png"
            paths = phase_diagram(table, x=x, y=y, color=color, where=pl.pop("where", None), agg=pl.pop("agg", "median"), out=out)
            print("wrote " + ", ".join(str(p) for p in paths))
    return 0
