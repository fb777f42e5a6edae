"""Training configuration: one flat dataclass, JSON-serialisable, with ``key=value`` overrides.

An experiment config file (``experiments/resnet/*.py``) defines ``get_config(tiny=False)``
returning a dict of overrides of :class:`TrainConfig` (or a TrainConfig), and optionally
``variants(tiny=False)`` returning ``{run_name: overrides}`` for runs overlaid in one figure.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from nclandscape.configs import load_config_module
from nclandscape.errors import ConfigError
from nclandscape.objectives import DEFAULT_LOSS
from nclandscape.optimizers import DEFAULT_MOMENTUM, DEFAULT_TRAIN_OPTIMIZER


@dataclass(frozen=True)
class TrainConfig:
    # data
    data: str = "cifar10_npz"          # tiny | cifar10_npz | cifar10_python | image_folder |
                                       # mini_imagenet
    data_path: str | None = "../shared/data/cifar10"
    shards: str = "abcde"              # cifar10_npz: which train shards (a = 10k .. abcde = 50k)
    train_per_class: int | None = None  # keep the first n images of each class (None: all)
    test_per_class: int | None = None
    image_size: int | None = None      # image_folder: resize; tiny: side length (default 8)
    test_fraction: float = 0.2         # image_folder without train/ test/ sub-folders;
                                       # mini_imagenet: held-out share of every class (1/6)
    tiny_classes: int = 4              # tiny: number of classes (real data: from the data)
    tiny_train_per_class: int = 16
    tiny_test_per_class: int = 8
    data_seed: int = 0
    augment: bool = True               # random crop (pad 4) + horizontal flip, on device
    # model
    width: int = 64                    # channels of the first stage (ResNet18: 64)
    feature_dim: int | None = None     # dimension d of the penultimate features (None: 8 width)
    feature_layer: str = "linear"      # how d is made: linear | last_block (nets/resnet.py)
    classifier_bias: bool = True
    fixed_etf: bool = False
    bf16: bool = False                 # bfloat16 compute, float32 parameters and loss
    fast_compile: bool = False         # XLA optimisation level 0 (tiny runs: compile-bound)
    # objective
    loss: str = DEFAULT_LOSS           # a loss of nclandscape.objectives.LOSSES
    alpha: float = 1.0                 # rescaled MSE weight on the true-class coordinate
    M: float = 1.0                     # rescaled MSE target on the true class
    weight_decay: float = 5e-4
    # optimiser
    optimizer: str = DEFAULT_TRAIN_OPTIMIZER  # an optimiser of nclandscape.optimizers (networks=True);
                                       # the default sgd: minibatch SGD with `momentum`
    lr: float = 0.05                   # adam: use 1e-3; lbfgs: first trial step of each
                                       # strong-Wolfe line search (torch.optim.LBFGS's lr)
    momentum: float = DEFAULT_MOMENTUM  # heavy-ball coefficient of every sgd-family optimiser
    schedule: str = "step"             # step | cosine_restarts | constant
    lr_decay_epochs: int = 40          # step: multiply by lr_decay every this many epochs
    lr_decay: float = 0.1
    restart_epochs: int = 10           # cosine_restarts: first period T_0 (epochs)
    restart_mult: int = 1              # cosine_restarts: period multiplier T_mult
    min_lr: float = 0.0                # cosine_restarts: the minimum learning rate eta_min
    lbfgs_memory: int = 10
    lbfgs_linesearch: str = "zoom"     # zoom (strong Wolfe) | backtracking (Armijo)
    lbfgs_linesearch_steps: int = 20
    batch_size: int = 128
    epochs: int = 200
    seed: int = 0
    # logging
    eval_every: int = 1                # epochs between metric records (the last epoch always)
    eval_batch_size: int = 500
    metric_max_samples: int | None = None  # NC metrics on the first n train samples (None: all)
    checkpoint_every_steps: int = 0    # mid-epoch checkpoints (0: only at epoch ends)
    progress: bool = True
    label: str | None = None           # legend entry in plots

    def replace(self, **kw) -> "TrainConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in fields(TrainConfig)}
# Fields a resumed run may change: they do not change the numbers of the epochs already run
# (``epochs`` extends or shortens a run; no schedule depends on the total).
COSMETIC = ("progress", "label", "checkpoint_every_steps", "epochs")


def from_dict(d: dict[str, Any]) -> TrainConfig:
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; known keys: {', '.join(FIELDS)}")
    return TrainConfig(**d)


def _parse_value(key: str, text: str):
    f = FIELDS[key]
    ann = str(f.type)
    if text.lower() in ("none", "null") and "None" in ann:
        return None
    try:
        if ann.startswith("bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if ann.startswith("int"):
            return int(text)
        if ann.startswith("float"):
            return float(text)
    except ValueError:
        raise ConfigError(f"--set {key}={text}: expected {ann}") from None
    return text


def apply_overrides(cfg: TrainConfig, sets: list[str] | None) -> TrainConfig:
    """Apply ``["key=value", ...]`` (the CLI's ``--set``) with the field's type."""
    kw = {}
    for s in sets or []:
        if "=" not in s:
            raise ConfigError(f"--set {s!r}: write key=value")
        k, v = s.split("=", 1)
        k = k.strip()
        if k not in FIELDS:
            raise ConfigError(f"--set {k}: unknown key; known keys: {', '.join(FIELDS)}")
        kw[k] = _parse_value(k, v.strip())
    return cfg.replace(**kw)


def validate(cfg: TrainConfig) -> TrainConfig:
    from nclandscape.nets.data import SOURCES
    from nclandscape.nets.resnet import FEATURE_LAYERS
    from nclandscape.objectives import LOSSES
    from nclandscape.optimizers import optimizer_names, optimizer_spec

    trainable = [o for o in optimizer_names() if optimizer_spec(o).networks]
    checks = [
        (cfg.data in SOURCES, f"data={cfg.data!r}; choose one of {', '.join(SOURCES)}"),
        (cfg.loss in LOSSES, f"loss={cfg.loss!r}; choose one of {', '.join(LOSSES)}"),
        (cfg.optimizer in trainable, f"optimizer={cfg.optimizer!r}; choose one of {', '.join(trainable)}"),
        (cfg.schedule in ("step", "cosine_restarts", "constant"),
         f"schedule={cfg.schedule!r}; choose step, cosine_restarts or constant"),
        (cfg.lbfgs_linesearch in ("zoom", "backtracking"),
         f"lbfgs_linesearch={cfg.lbfgs_linesearch!r}; choose zoom or backtracking"),
        (cfg.batch_size >= 1, f"batch_size={cfg.batch_size}; must be >= 1"),
        (cfg.epochs >= 1, f"epochs={cfg.epochs}; must be >= 1"),
        (cfg.eval_every >= 1, f"eval_every={cfg.eval_every}; must be >= 1"),
        (cfg.width >= 1, f"width={cfg.width}; must be >= 1"),
        (cfg.feature_dim is None or cfg.feature_dim >= 1,
         f"feature_dim={cfg.feature_dim}; must be >= 1 or None"),
        (cfg.feature_layer in FEATURE_LAYERS,
         f"feature_layer={cfg.feature_layer!r}; choose one of {', '.join(FEATURE_LAYERS)}"),
        (cfg.weight_decay >= 0, f"weight_decay={cfg.weight_decay}; must be >= 0"),
        (0 <= cfg.min_lr <= cfg.lr, f"min_lr={cfg.min_lr}; must be in [0, lr={cfg.lr}]"),
        (cfg.restart_epochs >= 1 and cfg.restart_mult >= 1,
         "restart_epochs and restart_mult must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    return cfg


def load_config_file(path, *, tiny: bool = False,
                     cpu: bool = False) -> tuple[TrainConfig, dict[str, TrainConfig]]:
    """Run a config file; returns ``(base, {run_name: config})`` (one run named '' if no variants).

    ``tiny``: the CI variant (generated data, seconds); ``cpu``: the variant sized for a 2-core
    CPU on real data (minutes); a config offers it by taking ``cpu`` in ``get_config`` (and
    ``variants``)."""
    import inspect

    p = Path(path)
    if tiny and cpu:
        raise ConfigError("--tiny and --cpu: choose one size")
    mod = load_config_module(p)
    if not hasattr(mod, "get_config"):
        raise ConfigError(f"config file {str(p)!r} defines no get_config(tiny=False)")
    size = {"tiny": tiny}
    if cpu:
        if "cpu" not in inspect.signature(mod.get_config).parameters:
            raise ConfigError(f"config file {str(p)!r} has no --cpu variant "
                              "(its get_config takes no cpu argument)")
        size["cpu"] = True
    base = _as_config(mod.get_config(**size))
    runs = {}
    if hasattr(mod, "variants"):
        takes_cpu = "cpu" in inspect.signature(mod.variants).parameters
        vs = mod.variants(**size) if takes_cpu else mod.variants(tiny=tiny)
        for name, over in vs.items():
            runs[name] = from_dict({**base.to_dict(), **over})
    else:
        runs[""] = base
    return base, runs


def _as_config(obj) -> TrainConfig:
    if isinstance(obj, TrainConfig):
        return obj
    if isinstance(obj, dict):
        return from_dict(obj)
    raise ConfigError(f"get_config() returned {type(obj).__name__}; return a dict or TrainConfig")


def dumps(cfg: TrainConfig) -> str:
    return json.dumps({"kind": "resnet_train", **cfg.to_dict()}, indent=2, sort_keys=True)


# The tiny variant every experiment config shares: generated 8x8 data, 4 classes, width 4.
# Runs in seconds on a CPU; CI runs it. Configs add their own comparison on top.
TINY = dict(data="tiny", tiny_classes=4, tiny_train_per_class=16, tiny_test_per_class=8,
            image_size=8, width=4, batch_size=16, epochs=4, lr_decay_epochs=3,
            restart_epochs=2, eval_batch_size=64, progress=False, fast_compile=True)

# The CPU variant (``--cpu``) every figure config shares: real CIFAR-10, the first 50 train and
# 30 test images of each class of shard a (500 / 300 images), ResNet18 at width 16 (d = 128),
# batch 32 (15 steps per epoch), no augmentation (so the 500 images are memorised within the run,
# as NC needs), 24 epochs with the step schedule's x0.1 every 10 epochs, a record every 3 epochs.
# Sized for a 2-core CPU shared with other jobs: ~60 img/s niced, ~4 min per run. Configs add
# their comparison on top.
CPU = dict(data="cifar10_npz", shards="a", train_per_class=50, test_per_class=30, width=16,
           batch_size=32, augment=False, epochs=24, lr_decay_epochs=10, restart_epochs=24,
           eval_every=3, progress=False)
