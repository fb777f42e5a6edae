"""``nclandscape optbench``: SGD / momentum / Adam / L-BFGS convergence over many seeds."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, problem_from_args

NAME = "optbench"
HELP = "benchmark optimiser convergence (gap, grad norm, NC1-NC3, wall time) over many seeds"
DESCRIPTION = (
    "Run each optimiser on all seeds at once (vmap), record f - f*, ||grad f|| and NC metrics every "
    "--record-every steps, and write config.json, one Parquet file per optimiser, summary.md, "
    "summary.csv, seeds.csv and plots into --out. Re-running on the same --out resumes: finished "
    "optimisers are reused."
)


def _floats(text, flag):
    from nclandscape.errors import ConfigError

    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give comma-separated numbers") from None


def _lr_overrides(text):
    from nclandscape.errors import ConfigError

    out = []
    for item in (text or "").split(","):
        if not item:
            continue
        name, sep, val = item.partition("=")
        try:
            out.append((name.strip(), float(val)))
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--lr {text!r}: give NAME=VALUE pairs, e.g. gd=0.1,adam=0.01")
    return tuple(out)


def add_arguments(p):
    from nclandscape.optbench.config import DEFAULT_ADAM_LR, DEFAULT_LBFGS_HISTORY, DEFAULT_SGD_LR
    from nclandscape.optimizers import (
        DEFAULT_BENCH_OPTIMIZERS, DEFAULT_MOMENTUM, OPTIMIZERS, is_minibatch, optimizer_names, optimizer_spec,
    )

    minibatch = [name for name in optimizer_names() if is_minibatch(name)]
    sgd_family = [name for name in optimizer_names() if optimizer_spec(name).sgd_family]
    heavy_ball = [name for name, spec in OPTIMIZERS.items() if spec.momentum is not None]
    add_problem_args(p)
    g = p.add_argument_group("benchmark")
    g.add_argument("--optimizers", default=",".join(DEFAULT_BENCH_OPTIMIZERS),
                   help=f"comma-separated from: {', '.join(optimizer_names())} ({', '.join(minibatch)}: minibatch "
                        "when --batch-size < N)")
    g.add_argument("--seeds", type=int, default=32, help="number of seeds (0..S-1), vmapped per optimiser")
    g.add_argument("--steps", type=int, default=1000, help="iterations per seed")
    g.add_argument("--record-every", type=int, default=10, help="record metrics and time every this many steps")
    g.add_argument("--records-per-decade", type=int, default=None,
                   help="record at log-spaced steps, this many per decade (instead of --record-every)")
    g.add_argument("--batch-size", type=int, default=None,
                   help=f"minibatch size of {', '.join(minibatch)} (default: full batch = GD)")
    g.add_argument("--sgd-lr", type=float, default=DEFAULT_SGD_LR, help=f"learning rate of {', '.join(sgd_family)}")
    g.add_argument("--momentum", type=float, default=DEFAULT_MOMENTUM, help=f"momentum of {', '.join(heavy_ball)}")
    g.add_argument("--adam-lr", type=float, default=DEFAULT_ADAM_LR,
                   help="learning rate of the other optimisers that use one (adam)")
    g.add_argument("--lbfgs-history", type=int, default=DEFAULT_LBFGS_HISTORY, help="L-BFGS memory (zoom line search)")
    g.add_argument("--lr", default=None, help="per-optimiser learning rates NAME=VALUE,... (beat --sgd-lr/--adam-lr)")
    g.add_argument("--scale", type=float, default=1.0, help="std of the random initialisation")
    g.add_argument("--tol", type=float, default=None,
                   help="a seed stops when ||grad f|| <= tol, as in solve (default 1e-10 in x64, 1e-5 in f32; 0: never)")
    g.add_argument("--thresholds", default="1e-3,1e-6", help="gap thresholds of the summary table")
    g.add_argument("--success-gap", type=float, default=1e-5, help="final gap counted as reaching the global minimum")
    g.add_argument("--out", required=True, help="output folder (resumed if it exists)")
    g.add_argument("--overwrite", action="store_true", help="replace results of a different configuration in --out")
    g.add_argument("--no-plots", action="store_true", help="write the tables only")


def config_from_args(args):
    from nclandscape.optbench.config import BenchConfig

    prob = problem_from_args(args)
    return BenchConfig(
        K=prob.K, n=prob.n, d=prob.d, lambda_W=prob.lambda_W, lambda_H=prob.lambda_H,
        lambda_b=prob.lambda_b, bias=prob.bias, loss=prob.loss, alpha=prob.alpha, M=prob.M,
        class_sizes=prob.class_sizes,
        optimizers=tuple(x.strip() for x in args.optimizers.split(",") if x.strip()),
        seeds=args.seeds, steps=args.steps, record_every=args.record_every,
        records_per_decade=args.records_per_decade, batch_size=args.batch_size,
        sgd_lr=args.sgd_lr, adam_lr=args.adam_lr, momentum=args.momentum, lbfgs_history=args.lbfgs_history,
        lr_overrides=_lr_overrides(args.lr), scale=args.scale, tol=args.tol, x64=args.x64,
        thresholds=_floats(args.thresholds, "--thresholds"), success_gap=args.success_gap,
        no_plots=args.no_plots,
    )


def validate(args):
    """Every check of ``optbench``, before any work: the problem, the benchmark settings (types,
    ranges, int32 limits, NaN), --out, and the memory of all seeds solved at once."""
    from nclandscape.commands._common import check_solver_memory
    from nclandscape.validate import check_out_dir, read_json

    out = check_out_dir("--out", args.out)
    if (out / "config.json").is_file():
        read_json(out / "config.json", "optbench config")
    config = config_from_args(args)
    prob = config.problem()
    check_solver_memory(args, prob, what=f"optbench with {config.seeds} seeds", times=config.seeds)
    return config


def main(args) -> int:
    import json
    import sys

    from nclandscape.optbench.run import run_benchmark

    config = validate(args)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    res = run_benchmark(config, args.out, overwrite=args.overwrite, progress=not args.json, log=log)
    s = res["summary"]
    if args.json:
        import math

        def clean(v):  # JSON has no inf/nan: "never reached" becomes null
            return None if isinstance(v, float) and not math.isfinite(v) else v

        rows = [{k: clean(v) for k, v in r.items()} for r in s["rows"]]
        print(json.dumps({"out": args.out, "ran": res["ran"], "reused": res["reused"], "f_star": s["f_star"],
                          "f_star_source": s["f_star_source"], "rows": rows}))
    else:
        from nclandscape.optbench.summary import markdown

        print(markdown(s), end="")
        print(f"wrote {args.out}/summary.md, summary.csv, seeds.csv" + ("" if config.no_plots else ", curves_vs_iteration.png, curves_vs_time.png"))
    return 1 if any(r["diverged"] == r["seeds"] for r in s["rows"]) else 0
