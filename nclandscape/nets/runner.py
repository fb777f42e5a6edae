"""The shared runner: ``train(cfg, out_dir)`` trains a ResNet and logs NC metrics as JSON lines.

State is explicit (:class:`TrainState`), the step is one jitted function
``step(state, x_all, y_all, idx, hparams) -> (state, loss)`` that gathers its batch from the
device-resident uint8 data, augments it (random crop + flip) and updates. Randomness is a pure
function of ``(seed, epoch, step)``: the data order of epoch ``e`` is
``numpy.random.default_rng([seed, e]).permutation(N)`` and the augmentation key of global step
``t`` is ``fold_in(key(seed + 1), t)``. A run killed at any point and restarted on the same
``out_dir`` therefore continues bit for bit (checkpoints every epoch and every
``checkpoint_every_steps`` steps; ``metrics.jsonl`` is cut back to the checkpoint's record count).
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics, sorted_cosine_margins
from nclandscape.nets import checkpoint
from nclandscape.nets.config import COSMETIC, TrainConfig, dumps, validate
from nclandscape.nets.data import Dataset, load_dataset, preprocess
from nclandscape.nets.losses import objective, per_sample_loss
from nclandscape.nets.resnet import ResNet, ResNet18, classifier_weights, count_params
from nclandscape.objectives import loss_of
from nclandscape.optimizers import make_optimizer, optimizer_spec

MARGIN_QUANTILES = tuple(np.linspace(0.0, 1.0, 21).round(2).tolist())


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (the run folder keeps its last good checkpoint)."""


def _finite(x):
    """JSON-safe: non-finite floats become None (strict JSON has no NaN)."""
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


class TrainState(NamedTuple):
    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array      # global step, int32
    loss_sum: jax.Array  # sum of minibatch data losses in the current epoch, float32


# --------------------------------------------------------------------------- factories
def make_model(cfg: TrainConfig, num_classes: int) -> ResNet:
    return ResNet18(num_classes=num_classes, width=cfg.width, feature_dim=cfg.feature_dim,
                    feature_layer=cfg.feature_layer, classifier_bias=cfg.classifier_bias,
                    fixed_etf=cfg.fixed_etf, dtype=jnp.bfloat16 if cfg.bf16 else jnp.float32)


def cosine_warm_restarts(peak: float, period: int, mult: int = 1, floor: float = 0.0) -> Callable:
    """SGDR (Loshchilov & Hutter; PyTorch's ``CosineAnnealingWarmRestarts``):
    ``floor + (peak - floor)/2 (1 + cos(pi t/T_i))``, periods ``T_0 mult^i``."""

    def schedule(count):
        c = jnp.asarray(count, jnp.float32)
        if mult == 1:
            t, T = jnp.mod(c, period), jnp.float32(period)
        else:
            i = jnp.floor(jnp.log1p(c * (mult - 1) / period) / float(np.log(mult)))
            start = lambda i: period * (mult**i - 1) / (mult - 1)
            i = jnp.where(start(i + 1) <= c, i + 1, jnp.where(start(i) > c, i - 1, i))
            t, T = c - start(i), period * mult**i
        return floor + 0.5 * (peak - floor) * (1.0 + jnp.cos(jnp.pi * t / T))

    return schedule


def make_schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable:
    if cfg.schedule == "constant":
        return lambda count: jnp.float32(cfg.lr)
    if cfg.schedule == "step":
        every = cfg.lr_decay_epochs * steps_per_epoch
        return lambda count: jnp.float32(cfg.lr) * jnp.float32(cfg.lr_decay) ** (
            jnp.asarray(count) // every).astype(jnp.float32)
    return cosine_warm_restarts(cfg.lr, cfg.restart_epochs * steps_per_epoch, cfg.restart_mult,
                                cfg.min_lr)


def optimizer_for(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The optax transformation of ``cfg.optimizer`` (:func:`nclandscape.optimizers.make_optimizer`):
    the sgd family and Adam with the schedule injected (so the learning rate is state; the sgd
    family with heavy-ball coefficient ``cfg.momentum``), or L-BFGS with ``cfg``'s line search.

    L-BFGS scales its direction by ``-lr`` before the line search, whose first trial step is 1:
    so ``lr`` is the first trial step of every search, as ``torch.optim.LBFGS(lr=...,
    line_search_fn="strong_wolfe")`` (the zoom search enforces the strong Wolfe conditions and
    may lengthen or shorten that step). Weight decay is *not* here: it is in the loss
    (:func:`nclandscape.nets.losses.objective`).
    """
    spec = optimizer_spec(cfg.optimizer)
    if not spec.networks:
        raise ConfigError(f"optimizer={cfg.optimizer!r} cannot train a network")
    if spec.line_search:
        if cfg.lbfgs_linesearch == "zoom":  # strong Wolfe conditions (optax's default)
            ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=cfg.lbfgs_linesearch_steps,
                                                initial_guess_strategy="one")
        else:  # Armijo backtracking: values only inside the search, cheaper to compile and run
            ls = optax.scale_by_backtracking_linesearch(
                max_backtracking_steps=cfg.lbfgs_linesearch_steps)
        return make_optimizer(spec.name, learning_rate=cfg.lr, memory_size=cfg.lbfgs_memory, linesearch=ls)
    return make_optimizer(spec.name, learning_rate=make_schedule(cfg, steps_per_epoch),
                          momentum=cfg.momentum if spec.sgd_family else None)


def hparams_of(cfg: TrainConfig) -> dict:
    """Loss hyper-parameters as float32 arrays (inputs of the compiled step, not constants).

    A loss runs with the neutral value of the hyper-parameters it does not take
    (``Loss.effective``): MSE is rescaled MSE with alpha = M = 1 (the same numbers, bit for bit),
    so the runs of one loss family share one compiled program."""
    eff = loss_of(cfg.loss).effective(alpha=cfg.alpha, M=cfg.M)
    return {"weight_decay": jnp.asarray(cfg.weight_decay, jnp.float32),
            "alpha": jnp.asarray(eff["alpha"], jnp.float32), "M": jnp.asarray(eff["M"], jnp.float32)}


def compiler_options(cfg: TrainConfig) -> dict | None:
    """``fast_compile``: XLA backend optimisation level 0 (compiles ~2.5x faster on CPU, runs
    slower) for tiny runs whose time is all compilation."""
    return {"xla_backend_optimization_level": 0} if cfg.fast_compile else None


def make_init(cfg: TrainConfig, model: ResNet, image_shape) -> Callable[[], tuple]:
    """``init() -> (params, batch_stats)`` from ``cfg.seed`` (jitted once)."""
    x = jnp.zeros((1, *image_shape), jnp.float32)

    def init(key):
        v = model.init(key, x, train=False)
        return v["params"], v["batch_stats"]

    jitted = jax.jit(init, compiler_options=compiler_options(cfg))

    def run():
        # Non-partitionable threefry compiles ~4x faster on CPU (seconds per run) and is the
        # same deterministic function of the seed on every backend.
        with jax.threefry_partitionable(False):
            return jitted(jax.random.key(cfg.seed))

    return run


def init_state(params, batch_stats, tx) -> TrainState:
    """Step-0 state; the optimiser state is built eagerly (cheap, nothing to compile).

    Every leaf is copied into its own buffer (optax states may share one array between fields,
    and the train step donates the whole state) with a strong dtype (optax's line-search state
    starts weakly typed; the step returns strong types, which would cost a second compilation).
    """
    state = TrainState(params, batch_stats, tx.init(params), jnp.zeros((), jnp.int32),
                       jnp.zeros((), jnp.float32))
    return jax.tree_util.tree_map(
        lambda a: jnp.array(a, dtype=jnp.asarray(a).dtype, copy=True), state)


def make_loss_fn(cfg: TrainConfig, model: ResNet):
    """``loss(params, batch_stats, x, y, hparams) -> (objective, (mean data loss, new stats))``."""
    data_loss = per_sample_loss(cfg.loss)

    def loss_fn(params, batch_stats, x, y, hparams):
        (logits, _), upd = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                       train=True, mutable=["batch_stats"])
        per = data_loss(logits, y, hparams)
        return objective(per, params, hparams), (jnp.mean(per), upd["batch_stats"])

    return loss_fn


def make_train_step(cfg: TrainConfig, model: ResNet, tx, ds: Dataset):
    loss_fn = make_loss_fn(cfg, model)
    aug_key = jax.random.key(cfg.seed + 1)
    line_search = optimizer_spec(cfg.optimizer).line_search  # the update needs value and value_fn

    def step(state: TrainState, x_all, y_all, idx, hparams):
        key = jax.random.fold_in(aug_key, state.step)
        x = preprocess(x_all[idx], key, mean=ds.mean, std=ds.std, augment=cfg.augment)
        y = y_all[idx]
        (obj, (data_loss, new_bs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.batch_stats, x, y, hparams)
        if line_search:
            value_fn = lambda p: loss_fn(p, state.batch_stats, x, y, hparams)[0]
            updates, opt_state = tx.update(grads, state.opt_state, state.params, value=obj,
                                           grad=grads, value_fn=value_fn)
        else:
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new = TrainState(params, new_bs, opt_state, state.step + 1, state.loss_sum + data_loss)
        return new, data_loss

    return jax.jit(step, donate_argnums=0, compiler_options=compiler_options(cfg))


def make_eval_fn(cfg: TrainConfig, model: ResNet, ds: Dataset):
    """``f(params, batch_stats, x_all, idx) -> (logits, features)`` in eval mode, no augmentation."""

    def f(params, batch_stats, x_all, idx):
        x = preprocess(x_all[idx], None, mean=ds.mean, std=ds.std, augment=False)
        return model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)

    return jax.jit(f, compiler_options=compiler_options(cfg))


def make_nc_fn(cfg: TrainConfig, num_classes: int):
    """``f(W, b, H (N, d), labels) -> (NCMetrics, cosine-margin quantiles)``, jitted."""
    return jax.jit(functools.partial(_nc, num_classes=num_classes),
                   compiler_options=compiler_options(cfg))


def _nc(W, b, H, labels, *, num_classes):
    Y = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32).T
    m = nc_metrics(W, H.T, b, Y)
    margins = sorted_cosine_margins(W, H.T, Y)
    q = jnp.quantile(margins, jnp.asarray(MARGIN_QUANTILES, jnp.float32))
    # linear interpolation in float32 can step down by an ulp between close quantiles; the exact
    # quantiles are non-decreasing, so restore that order (a change of at most one ulp)
    return m, jax.lax.cummax(q)


def evaluate(state: TrainState, model: ResNet, eval_fn, nc_fn, data, cfg: TrainConfig) -> dict:
    """Accuracy and loss on train/test, NC metrics and cosine margins on train features."""
    x_tr, y_tr, x_te, y_te = data
    loss = per_sample_loss(cfg.loss)
    hp = hparams_of(cfg)

    def features(x, n):
        eb = cfg.eval_batch_size
        outs = []
        for i in range(0, n, eb):
            idx = jnp.asarray(np.minimum(np.arange(i, i + eb), n - 1), jnp.int32)
            z, h = eval_fn(state.params, state.batch_stats, x, idx)
            outs.append((z[: n - i], h[: n - i]))
        return (jnp.concatenate([o[0] for o in outs]), jnp.concatenate([o[1] for o in outs]))

    z_tr, h_tr = features(x_tr, x_tr.shape[0])
    z_te, _ = features(x_te, x_te.shape[0])
    rec = {
        "train_acc": float(jnp.mean(jnp.argmax(z_tr, -1).astype(y_tr.dtype) == y_tr)),
        "test_acc": float(jnp.mean(jnp.argmax(z_te, -1).astype(y_te.dtype) == y_te)),
        "train_eval_loss": float(jnp.mean(loss(z_tr, y_tr, hp))),
        "test_loss": float(jnp.mean(loss(z_te, y_te, hp))),
    }
    n = x_tr.shape[0] if cfg.metric_max_samples is None else min(cfg.metric_max_samples,
                                                                  x_tr.shape[0])
    W, b = classifier_weights(model, state.params)
    m, q = nc_fn(W, b, h_tr[:n], y_tr[:n])
    rec.update({k: float(v) for k, v in m._asdict().items()})
    rec["cos_margin_quantiles"] = [float(v) for v in q]
    rec["feature_norm"] = float(jnp.mean(jnp.linalg.norm(h_tr[:n], axis=1)))
    rec["classifier_norm"] = float(jnp.linalg.norm(W))
    if loss_of(cfg.loss).decomposition:  # the five-term decomposition on all train features (docs/central_path.md)
        from nclandscape.central_path.networks import network_terms

        rec.update(network_terms(W, b, h_tr, y_tr, model.num_classes,
                                 lam_W=0.0 if model.fixed_etf else cfg.weight_decay, lam_b=cfg.weight_decay))
    return rec


# --------------------------------------------------------------------------- the runner
_NOT_IN_PROGRAMS = dict(epochs=1, eval_every=1, eval_batch_size=1, metric_max_samples=None,
                        checkpoint_every_steps=0, progress=False, label=None, data="tiny",
                        data_path=None, shards="", train_per_class=None, test_per_class=None,
                        tiny_train_per_class=1, tiny_test_per_class=1, data_seed=0,
                        weight_decay=0.0, alpha=1.0, M=1.0, test_fraction=0.5)
_MODEL_FIELDS = ("width", "feature_dim", "feature_layer", "classifier_bias", "fixed_etf", "bf16",
                 "seed", "fast_compile")


def _program_key(cfg: TrainConfig) -> TrainConfig:
    """The config with every field that does not shape the compiled programs normalised away
    (loss hyper-parameters are program *inputs*, and the losses of one family share one per-sample
    function), so runs that differ only there share them."""
    return cfg.replace(**_NOT_IN_PROGRAMS, loss=loss_of(cfg.loss).family)


@functools.lru_cache(maxsize=16)
def _model_programs(key: TrainConfig, num_classes, mean, std, image_shape):
    """Model and its jitted init / eval / NC-metric functions (shared across optimisers)."""
    ds = Dataset(None, None, None, None, tuple(range(num_classes)), mean, std)
    model = make_model(key, num_classes)
    return (model, make_init(key, model, image_shape), make_eval_fn(key, model, ds),
            make_nc_fn(key, num_classes))


@functools.lru_cache(maxsize=16)
def _step_programs(key: TrainConfig, spe, num_classes, mean, std, image_shape):
    """Optimiser, schedule and the jitted train step."""
    ds = Dataset(None, None, None, None, tuple(range(num_classes)), mean, std)
    model = _model_programs(_model_key(key), num_classes, mean, std, image_shape)[0]
    tx = optimizer_for(key, spe)
    return tx, make_schedule(key, spe), make_train_step(key, model, tx, ds)


def _model_key(key: TrainConfig) -> TrainConfig:
    base = TrainConfig()
    return base.replace(**{k: getattr(key, k) for k in _MODEL_FIELDS})


def _write_json_atomic(path: Path, text: str) -> None:
    from nclandscape.fileio import atomic_write_text

    atomic_write_text(path, text)


def _read_records(path: Path, warn: Callable[[str], None] | None = None) -> list[dict]:
    """The records of ``metrics.jsonl``. A torn last line (an append cut by a crash or a full
    disk) is dropped with a warning; a bad line before the last is a ConfigError naming it."""
    if not path.exists():
        return []
    lines = [l for l in path.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1:
                raise ConfigError(f"{str(path)!r} line {i + 1} is not JSON: delete the run folder to start over") from None
            if warn:
                warn(f"warning: dropped a torn last line of {str(path)!r} ({len(line)} characters)")
    return out


def _check_config(out: Path, cfg: TrainConfig) -> None:
    p = out / "config.json"
    if not p.exists():
        return
    old = json.loads(p.read_text())
    new = json.loads(dumps(cfg))
    diff = sorted(k for k in set(old) | set(new)
                  if k not in COSMETIC and old.get(k) != new.get(k))
    if diff:
        raise ConfigError(f"{str(out)!r} holds a run with a different config ({', '.join(diff)}"
                          f" differ); use another --out, or delete the folder to start over")


def train(cfg: TrainConfig, out_dir, *, log: Callable[[str], None] | None = print) -> list[dict]:
    """Train (or resume) the run in ``out_dir``; returns all metric records of the run."""
    from tqdm.auto import tqdm

    cfg = validate(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, mpath = out / "checkpoint.npz", out / "metrics.jsonl"
    if ckpt.exists():  # without a checkpoint there is nothing to protect: start afresh
        _check_config(out, cfg)
    ds = load_dataset(cfg)
    _write_json_atomic(out / "config.json", dumps(cfg))
    N, B = len(ds.y_train), cfg.batch_size
    if N < B:
        raise ConfigError(f"batch_size={B} is larger than the training set ({N} images); "
                          f"set batch_size <= {N}")
    spe = N // B  # the last partial batch of each epoch is dropped
    key = _program_key(cfg)
    shape_args = (ds.num_classes, ds.mean, ds.std, ds.x_train.shape[1:])
    model, init_fn, eval_fn, nc_fn = _model_programs(_model_key(key), *shape_args)
    tx, sched, step_fn = _step_programs(key, spe, *shape_args)
    state = init_state(*init_fn(), tx)
    n_params = count_params(state.params)  # trainable: a fixed ETF is a constant, not a leaf
    hp = hparams_of(cfg)
    data = (jnp.asarray(ds.x_train), jnp.asarray(ds.y_train, jnp.int32),
            jnp.asarray(ds.x_test), jnp.asarray(ds.y_test, jnp.int32))

    epoch, s0, n_rec = 0, 0, 0
    if ckpt.exists():
        state, meta = checkpoint.load(ckpt, state)
        epoch, s0, n_rec = meta["epoch"], meta["step_in_epoch"], meta["records"]
        if log:
            log(f"resuming {out} at epoch {epoch} step {s0} ({n_rec} metric records)")
    records = _read_records(mpath, warn=lambda m: print(m, file=sys.stderr))[:n_rec]
    if len(records) != n_rec:
        raise ConfigError(f"{str(mpath)!r} has {len(records)} records, the checkpoint expects "
                          f"{n_rec}; delete {str(out)!r} to start over")
    _write_json_atomic(mpath, "".join(json.dumps(r) + "\n" for r in records))

    while epoch < cfg.epochs:
        perm = np.random.default_rng([cfg.seed, epoch]).permutation(N).astype(np.int32)
        if s0 == 0:
            state = state._replace(loss_sum=jnp.zeros((), jnp.float32))
        t0 = time.perf_counter()
        bar = tqdm(total=spe, initial=s0, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step",
                   disable=not cfg.progress, leave=False)
        for s in range(s0, spe):
            state, _ = step_fn(state, data[0], data[1], jnp.asarray(perm[s * B:(s + 1) * B]), hp)
            bar.update(1)
            bar.set_postfix_str(f"{(s + 1 - s0) * B / (time.perf_counter() - t0):.0f} img/s",
                                refresh=False)
            done = s + 1 == spe
            if not done and cfg.checkpoint_every_steps and (s + 1) % cfg.checkpoint_every_steps == 0:
                checkpoint.save(ckpt, state, {"epoch": epoch, "step_in_epoch": s + 1,
                                              "records": len(records)})
        jax.block_until_ready(state)
        dt = time.perf_counter() - t0
        bar.close()
        epoch_loss = float(state.loss_sum) / spe
        epoch += 1
        if not np.isfinite(epoch_loss):
            raise TrainingDiverged(
                f"{out}: the training loss is {epoch_loss} in epoch {epoch}; lower lr (now "
                f"{cfg.lr}) or raise batch_size; the last checkpoint is of epoch {epoch - 1} "
                "(delete the folder to start over)")
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            rec = {"epoch": epoch, "step": int(state.step),
                   "lr": None if optimizer_spec(cfg.optimizer).lr_free else float(sched(int(state.step) - 1)),
                   "train_loss": epoch_loss, "trainable_params": n_params}
            rec.update(evaluate(state, model, eval_fn, nc_fn, data, cfg))
            rec["images_per_s"] = (spe - s0) * B / dt
            rec["wall_s"] = dt
            rec = {k: _finite(v) for k, v in rec.items()}
            records.append(rec)
            try:  # a torn append (full disk, kill) is dropped on resume: see _read_records
                with open(mpath, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                e.filename = e.filename or str(mpath)  # the command line names the file
                raise
            if log:
                fmt = lambda k, spec: "None" if rec[k] is None else format(rec[k], spec)
                log(f"epoch {epoch}: loss {epoch_loss:.4f} train {fmt('train_acc', '.3f')} "
                    f"test {fmt('test_acc', '.3f')} NC1 {fmt('nc1', '.3g')} NC2 {fmt('nc2', '.3f')} "
                    f"NC3 {fmt('nc3', '.3f')} NC4 {fmt('nc4', '.3f')} "
                    f"({rec['images_per_s']:.0f} img/s)")
        checkpoint.save(ckpt, state, {"epoch": epoch, "step_in_epoch": 0,
                                      "records": len(records)})
        s0 = 0
    return records


def load_run(run_dir):
    """``(cfg, model, state, meta)`` of the latest checkpoint in ``run_dir`` (for analysis)."""
    from nclandscape.nets.config import from_dict

    run_dir = Path(run_dir)
    try:
        d = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{str(run_dir)!r} has no readable config.json ({e})") from e
    d.pop("kind", None)
    cfg = from_dict(d)
    ds = load_dataset(cfg)
    key = _program_key(cfg)
    shape_args = (ds.num_classes, ds.mean, ds.std, ds.x_train.shape[1:])
    model, init_fn, _, _ = _model_programs(_model_key(key), *shape_args)
    tx, _, _ = _step_programs(key, len(ds.y_train) // cfg.batch_size, *shape_args)
    state, meta = checkpoint.load(run_dir / "checkpoint.npz", init_state(*init_fn(), tx))
    return cfg, model, state, meta
