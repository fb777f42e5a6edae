"""``nclandscape train CONFIG --out DIR``: train the ResNet runs of an experiment config."""
from __future__ import annotations

NAME = "train"
HELP = "train ResNet18 runs of an experiment config, logging NC metrics (resumable)"
DESCRIPTION = """Train the run(s) of CONFIG (a Python file under experiments/resnet/ defining
get_config(tiny=False) and optionally variants(tiny=False)). Each run writes config.json,
metrics.jsonl (NC1-NC4, numerical rank, cosine margins, train/test accuracy) and checkpoint.npz
into DIR (or DIR/<variant> for configs with variants); re-running the same command resumes an
interrupted run without losing anything. Finally the NC figure DIR/nc_curves.{png,pdf} is drawn.
Data: --set data_path=PATH points at the CIFAR-10 .npz shards folder (data=cifar10_npz, the
default: ../shared/data/cifar10), an extracted cifar-10-batches-py folder (data=cifar10_python)
or a root/<class>/*.png tree (data=image_folder)."""


def add_arguments(parser) -> None:
    parser.add_argument("config",
                        help="experiment config file, e.g. experiments/resnet/fig3_optimizers.py")
    parser.add_argument("--out", required=True, help="output folder (created; resumed if present)")
    parser.add_argument("--tiny", action="store_true",
                        help="the config's tiny variant (seconds on a CPU; what CI runs)")
    parser.add_argument("--cpu", action="store_true",
                        help="the config's CPU variant: real data sized for a 2-core CPU "
                             "(minutes per run)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable), e.g. --set epochs=10")
    parser.add_argument("--run", dest="runs", action="append", default=None, metavar="NAME",
                        help="only this variant of the config (repeatable)")
    parser.add_argument("--no-plot", action="store_true", help="skip drawing the figure")


# field -> (lowest allowed, whether None is allowed); integers also stop at the int32 maximum.
_INT_FIELDS = {
    "batch_size": (1, False), "epochs": (1, False), "eval_every": (1, False), "eval_batch_size": (1, False),
    "width": (1, False), "feature_dim": (1, True), "train_per_class": (1, True), "test_per_class": (1, True),
    "image_size": (1, True), "tiny_classes": (2, False), "tiny_train_per_class": (1, False),
    "tiny_test_per_class": (1, False), "data_seed": (0, False), "seed": (0, False),
    "lr_decay_epochs": (1, False), "restart_epochs": (1, False), "restart_mult": (1, False),
    "lbfgs_memory": (1, False), "lbfgs_linesearch_steps": (1, False), "metric_max_samples": (1, True),
    "checkpoint_every_steps": (0, False),
}
# field -> (lo, lo excluded, hi, hi excluded): finite numbers only (NaN and inf refused).
_FLOAT_FIELDS = {
    "lr": (0.0, True, None, False), "momentum": (0.0, False, 1.0, True), "weight_decay": (0.0, False, None, False),
    "lr_decay": (0.0, True, None, False), "alpha": (1.0, False, None, False), "M": (1.0, False, None, False),
    "test_fraction": (0.0, True, 1.0, True),
}


def check_train_config(cfg, where: str):
    """Types, ranges, int32 limits and NaN of every numeric field of a TrainConfig."""
    from nclandscape.errors import ConfigError
    from nclandscape.validate import check_float, check_int

    for name, (lo, none_ok) in _INT_FIELDS.items():
        v = getattr(cfg, name)
        if v is None and none_ok:
            continue
        check_int(f"{where}{name}", v, lo=lo)
    for name, (lo, lo_open, hi, hi_open) in _FLOAT_FIELDS.items():
        check_float(f"{where}{name}", getattr(cfg, name), lo=lo, lo_open=lo_open, hi=hi, hi_open=hi_open)
    if not cfg.shards or set(cfg.shards) - set("abcde"):
        raise ConfigError(f"{where}shards {cfg.shards!r}: give letters from abcde (e.g. abcde = all 50k images)")
    return cfg


def validate_args(args) -> dict:
    """Every check of ``train``, before any work or file: the config file (readable, valid
    Python), --run, --set, every field's type/range/int32 limit/NaN, and --out."""
    from nclandscape.errors import ConfigError
    from nclandscape.nets.config import apply_overrides, load_config_file, validate
    from nclandscape.validate import check_out_dir, read_json, read_text

    check_out_dir("--out", args.out)
    src = read_text(args.config, "config file")
    try:
        compile(src, args.config, "exec")
    except SyntaxError as e:
        raise ConfigError(f"config file {args.config!r} has a syntax error at line {e.lineno}: {e.msg}") from None
    _, runs = load_config_file(args.config, tiny=args.tiny, cpu=args.cpu)
    if args.runs:
        unknown = sorted(set(args.runs) - set(runs))
        if unknown:
            raise ConfigError(f"--run {', '.join(unknown)}: not a variant of {args.config}; "
                              f"variants: {', '.join(runs) or '(none)'}")
        runs = {k: v for k, v in runs.items() if k in args.runs}
    runs = {k: check_train_config(validate(apply_overrides(v, args.sets)), f"run {k!r}: " if k else "")
            for k, v in runs.items()}
    from pathlib import Path

    for name in runs:  # a resumed run's config.json must be readable
        cfg = Path(args.out) / name / "config.json" if name else Path(args.out) / "config.json"
        if cfg.is_file():
            read_json(cfg, "run config")
    return runs


def main(args) -> int:
    import sys
    from pathlib import Path

    runs = validate_args(args)

    from nclandscape.configs import load_config_module
    from nclandscape.nets.plots import plot_run
    from nclandscape.nets.runner import TrainingDiverged, train

    out = Path(args.out)
    dirs = []
    for name, cfg in runs.items():
        run_dir = out / name if name else out
        if name:
            print(f"== run {name} -> {run_dir}")
        if name and cfg.label is None:
            cfg = cfg.replace(label=name)
        try:
            records = train(cfg, run_dir)
        except TrainingDiverged as e:
            print(f"nclandscape train: error: {e}", file=sys.stderr)
            return 1
        last = records[-1]
        print(f"{run_dir}: epoch {last['epoch']} " + " ".join(
            f"{k} {last[k]:.4g}" if last[k] is not None else f"{k} None"
            for k in ("train_acc", "test_acc", "nc1", "nc2", "nc3", "nc4")))
        dirs.append(run_dir)
    if not args.no_plot:
        for p in plot_run(dirs, out / "nc_curves"):
            print(f"wrote {p}")
        mod = load_config_module(args.config)
        if hasattr(mod, "figures"):  # extra overlays: {figure name: [run names]}
            import inspect

            size = {"tiny": args.tiny}
            if "cpu" in inspect.signature(mod.figures).parameters:
                size["cpu"] = args.cpu
            for fig_name, names in mod.figures(**size).items():
                sub = [out / n for n in names if (out / n / "metrics.jsonl").is_file()]
                if sub:
                    for p in plot_run(sub, out / fig_name):
                        print(f"wrote {p}")
        per_class = getattr(mod, "FEATURE_SCATTER_PER_CLASS", None)
        if per_class:
            from nclandscape.nets.features import feature_scatter

            for p in feature_scatter(dirs, out / "features_3d", per_class=per_class):
                print(f"wrote {p}")
    return 0
