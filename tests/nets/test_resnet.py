"""ResNet18 model, simplex ETF, losses, schedules and augmentation.

Tests run with x64 enabled (conftest); the model and data must stay float32 regardless.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape.errors import ConfigError
from nclandscape.nets import losses
from nclandscape.nets.data import preprocess
from nclandscape.nets.resnet import ResNet18, classifier_weights, count_params, simplex_etf
from nclandscape.nets.runner import cosine_warm_restarts, make_schedule
from nclandscape.nets.config import TrainConfig

# torchvision-style CIFAR ResNet18 (kuangliu/pytorch-cifar) with 10 classes: 11,173,962 params.
RESNET18_PARAMS = 11_173_962


def _shapes(model, size=32):
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    variables = jax.eval_shape(lambda k, x: model.init(k, x, train=False), jax.random.key(0), x)
    out = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, size, size, 3), jnp.float32),
                                               train=False), variables)
    return variables, out


def test_resnet18_param_count_and_shapes():
    v, (logits, feats) = _shapes(ResNet18(num_classes=10))
    assert count_params(v["params"]) == RESNET18_PARAMS
    assert logits.shape == (2, 10) and feats.shape == (2, 512)
    assert logits.dtype == jnp.float32 and feats.dtype == jnp.float32
    # 20 BatchNorms (stem + 16 in blocks + 3 projections): mean and var per channel
    bs = jax.tree_util.tree_leaves(v["batch_stats"])
    assert len(bs) == 2 * 20
    # feature layer d=512: + 512*512 + 512; no classifier bias: - 10
    v, (logits, feats) = _shapes(ResNet18(num_classes=10, feature_dim=512, classifier_bias=False))
    assert count_params(v["params"]) == RESNET18_PARAMS + 512 * 512 + 512 - 10
    v, (logits, feats) = _shapes(ResNet18(num_classes=100, feature_dim=5, width=8), size=16)
    assert logits.shape == (2, 100) and feats.shape == (2, 5)


def test_simplex_etf_gram_float64():
    for K, d in [(10, 9), (10, 10), (10, 128), (4, 7)]:
        W = simplex_etf(K, d, seed=3)
        target = K / (K - 1) * (np.eye(K) - np.ones((K, K)) / K)
        # float64 construction: orthonormal bases to ~1e-15 each, products of size <= 512
        np.testing.assert_allclose(W @ W.T, target, atol=1e-12)
    with pytest.raises(ConfigError, match="feature_dim >= num_classes - 1"):
        simplex_etf(10, 5)


def test_float32_model_under_x64():
    """Parameters, statistics, logits and features are float32 although x64 is on; bf16
    computes in bfloat16 but hands float32 logits to the loss (abstract evaluation: exact dtypes)."""
    for dtype in (jnp.float32, jnp.bfloat16):
        model = ResNet18(num_classes=4, width=4, dtype=dtype)
        v, (z, h) = _shapes(model, size=8)
        assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(v))
        (z, h), upd = jax.eval_shape(
            lambda v: model.apply(v, jnp.zeros((2, 8, 8, 3), jnp.float32), train=True,
                                  mutable=["batch_stats"]), v)
        assert z.dtype == jnp.float32 and h.dtype == jnp.float32
        assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(upd))


@pytest.mark.slow
def test_fixed_etf_classifier_stays_fixed(tmp_path):
    """Training (the Fig. 5 config's tiny fixed-ETF run) moves the features and the bias but not
    the classifier, which is a constant of the model, not a parameter."""
    from pathlib import Path

    from nclandscape.nets.config import load_config_file
    from nclandscape.nets.runner import _model_key, _model_programs, _program_key, load_run, train

    cfg_file = Path(__file__).resolve().parents[2] / "experiments" / "resnet" / "fig5_fixed_etf.py"
    cfg = load_config_file(cfg_file, tiny=True)[1]["fixed_etf"].replace(epochs=1)
    train(cfg, tmp_path, log=None)
    K, d = cfg.tiny_classes, 8 * cfg.width
    model, init_fn, eval_fn, _ = _model_programs(_model_key(_program_key(cfg)), K,
                                                 (0.5,) * 3, (0.25,) * 3, (8, 8, 3))
    p0, s0 = init_fn()
    assert "classifier" not in p0 and "classifier_bias" in p0
    cfg1, model1, state, meta = load_run(tmp_path)
    assert cfg1 == cfg and model1 is model
    assert meta["epoch"] == 1 and int(state.step) == 4
    p1 = state.params
    W0, b0 = classifier_weights(model, p0)
    W1, b1 = classifier_weights(model, p1)
    np.testing.assert_array_equal(W0, W1)
    np.testing.assert_allclose(W1 @ W1.T, K / (K - 1) * (np.eye(K) - 1 / K), atol=1e-6)
    assert W1.shape == (K, d)
    assert float(jnp.abs(b1 - b0).max()) > 0  # the bias did train
    assert float(jnp.abs(p1["conv_init"]["kernel"] - p0["conv_init"]["kernel"]).max()) > 0
    # the model really uses W: logits = h W^T + b (float32 dot products of length 32)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)), jnp.uint8)
    z, h = eval_fn(p1, state.batch_stats, x, jnp.arange(6, dtype=jnp.int32))
    np.testing.assert_allclose(z, h @ W1.T + b1, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- losses, float64
def _hand(z, y, alpha, M):
    ce, mse, rmse = [], [], []
    for zi, yi in zip(z, y):
        ce.append(-zi[yi] + np.log(np.sum(np.exp(zi))))
        e = np.zeros_like(zi)
        e[yi] = 1.0
        mse.append(0.5 * np.sum((zi - e) ** 2))
        rmse.append(0.5 * (alpha * (zi[yi] - M) ** 2 + sum(zi[j] ** 2 for j in range(len(zi)) if j != yi)))
    return np.array(ce), np.array(mse), np.array(rmse)


def test_losses_against_hand_computation_float64():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    ce, mse, rmse = _hand(z, y, 3.0, 2.5)
    zj, yj = jnp.asarray(z), jnp.asarray(y)
    assert zj.dtype == jnp.float64
    f = jax.jit(lambda z, y, a, m: (losses.cross_entropy(z, y), losses.mse(z, y),
                                    losses.rescaled_mse(z, y, alpha=a, M=m)))
    out = f(zj, yj, 3.0, 2.5)
    for got, want in zip(out, (ce, mse, rmse)):
        np.testing.assert_allclose(got, want, rtol=1e-13)  # float64 round-off of sums of 5 terms
    # alpha = M = 1 is plain MSE, exactly
    np.testing.assert_array_equal(losses.rescaled_mse(zj, yj, alpha=1.0, M=1.0), losses.mse(zj, yj))
    hp = {"weight_decay": 0.3, "alpha": 3.0, "M": 2.5}
    np.testing.assert_allclose(losses.per_sample_loss("rescaled_mse")(zj, yj, hp), rmse, rtol=1e-13)
    with pytest.raises(ConfigError, match="loss='hinge' is not allowed"):
        losses.per_sample_loss("hinge")


def test_objective_weight_decay_on_all_params():
    params = {"a": {"kernel": jnp.asarray([[1.0, 2.0]], jnp.float32)},
              "bn": {"scale": jnp.asarray([3.0], jnp.float32), "bias": jnp.asarray([-1.0], jnp.float32)}}
    hp = {"weight_decay": jnp.float32(0.1)}
    got = losses.objective(jnp.asarray([1.0, 2.0, 6.0], jnp.float32), params, hp)
    assert abs(float(got) - (3.0 + 0.05 * (1 + 4 + 9 + 1))) < 1e-6  # float32 rounding of 3.75


# --------------------------------------------------------------------------- schedules
def test_step_and_cosine_restart_schedules():
    cfg = TrainConfig(lr=0.05, lr_decay=0.1, lr_decay_epochs=40, schedule="step")
    s = make_schedule(cfg, steps_per_epoch=10)
    vals = [float(s(c)) for c in (0, 399, 400, 799, 800)]
    np.testing.assert_allclose(vals, [0.05, 0.05, 0.005, 0.005, 0.0005], rtol=1e-6)
    f = cosine_warm_restarts(1.0, 10, 2)  # periods 10, 20, 40 starting at 0, 10, 30
    got = [float(f(c)) for c in (0, 5, 9, 10, 20, 29, 30, 50, 70)]
    want = [1.0, 0.5, 0.5 * (1 + np.cos(np.pi * 0.9)), 1.0, 0.5, 0.5 * (1 + np.cos(np.pi * 19 / 20)),
            1.0, 0.5, 1.0]
    np.testing.assert_allclose(got, want, atol=1e-6)  # float32 cosine
    g = cosine_warm_restarts(2.0, 4, 1)
    np.testing.assert_allclose([float(g(c)) for c in (0, 2, 4, 6)], [2.0, 1.0, 2.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- augmentation
def test_preprocess_normalise_and_augment():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 8, 8, 3)).astype(np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    f = jax.jit(lambda x, k: preprocess(x, k, mean=mean, std=std, augment=False))
    out = np.asarray(f(jnp.asarray(x), jax.random.key(0)))
    assert out.dtype == np.float32
    want = (x / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)  # float32 arithmetic
    g = jax.jit(lambda x, k: preprocess(x, k, mean=mean, std=std, augment=True, pad=2))
    a1 = np.asarray(g(jnp.asarray(x), jax.random.key(5)))
    np.testing.assert_array_equal(a1, np.asarray(g(jnp.asarray(x), jax.random.key(5))))
    # every output is a (possibly flipped) 8x8 window of the zero-padded image
    raw = np.round(a1 * np.array(std) * 255 + np.array(mean) * 255)
    xp = np.pad(x.astype(np.float64), ((0, 0), (2, 2), (2, 2), (0, 0)))
    moved = 0
    for b in range(6):
        windows = [w for i in range(5) for j in range(5)
                   for w in (xp[b, i:i + 8, j:j + 8], xp[b, i:i + 8, j:j + 8][:, ::-1])]
        assert any(np.array_equal(raw[b], w) for w in windows)
        moved += not np.array_equal(raw[b], x[b])
    assert moved >= 1


# --------------------------------------------------------------------------- the paper's options
@pytest.mark.slow
def test_last_block_feature_dimension_param_count_and_relu_features():
    """d through the last residual block (the MSE paper's model): its second 3x3 conv and a new
    1x1 projection shortcut (+ BN) have d channels, and the classifier is d -> K."""
    d = 10
    v, (z, h) = _shapes(ResNet18(num_classes=10, feature_dim=d, feature_layer="last_block"))
    removed = 512 * 512 * 9 + 2 * 512 + (512 * 10 + 10)
    added = 512 * d * 9 + 2 * d + (512 * d + 2 * d) + (d * 10 + 10)
    assert count_params(v["params"]) == RESNET18_PARAMS - removed + added == 8_859_862
    assert h.shape == (2, d) and z.shape == (2, 10)
    model = ResNet18(num_classes=4, width=4, feature_dim=3, feature_layer="last_block")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 8, 8, 3)), jnp.float32)
    variables = model.init(jax.random.key(0), x, train=False)
    z, h = model.apply(variables, x, train=False)
    assert h.shape == (5, 3) and float(h.min()) >= 0.0  # pooled post-ReLU channels
    np.testing.assert_allclose(z, h @ variables["params"]["classifier"]["kernel"]
                               + variables["params"]["classifier"]["bias"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="feature_layer"):
        _shapes(ResNet18(num_classes=4, feature_dim=3, feature_layer="conv"), size=8)


def test_standard_simplex_etf_embedding():
    """seed=None: sqrt(K/(K-1)) (I - 1 1^T/K) in the first K coordinates, zeros after; its null
    space holds 1_K, so non-negative features t 1_K + c e_k reach every class."""
    K = 10
    for d in (K, 64):
        W = simplex_etf(K, d)
        np.testing.assert_allclose(W[:, :K], np.sqrt(K / (K - 1)) * (np.eye(K) - 1 / K), atol=1e-14)
        assert not W[:, K:].any()
        np.testing.assert_allclose(W[:, :K] @ np.ones(K), 0, atol=1e-14)
    W = simplex_etf(K, K - 1)
    np.testing.assert_allclose(W @ W.T, K / (K - 1) * (np.eye(K) - 1 / K), atol=1e-14)


def test_cosine_restarts_minimum_lr():
    """PyTorch's CosineAnnealingWarmRestarts: eta_min + (eta_max - eta_min)(1 + cos(pi t/T))/2."""
    f = cosine_warm_restarts(0.01, 200, 1, 1e-4)
    got = [float(f(c)) for c in (0, 100, 199, 200)]
    want = [0.01, 1e-4 + (0.01 - 1e-4) / 2, 1e-4 + (0.01 - 1e-4) / 2 * (1 + np.cos(np.pi * 199 / 200)),
            0.01]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    cfg = TrainConfig(schedule="cosine_restarts", lr=0.01, min_lr=1e-4, restart_epochs=2)
    np.testing.assert_allclose(float(make_schedule(cfg, 5)(5)), want[1], rtol=1e-5)
    from nclandscape.nets.config import validate

    with pytest.raises(ConfigError, match="min_lr"):
        validate(cfg.replace(min_lr=0.1))


@pytest.mark.slow
def test_lbfgs_lr_is_the_first_trial_step():
    """With an Armijo search that accepts its first trial, the first L-BFGS update is -lr times
    the same direction: doubling lr doubles it exactly."""
    import optax

    from nclandscape.nets.runner import optimizer_for

    f = lambda x: 0.5 * jnp.sum(jnp.asarray([1.0, 4.0]) * x**2)
    x0 = jnp.asarray([1.0, -2.0])
    ups = []
    for lr in (0.01, 0.02):
        tx = optimizer_for(TrainConfig(optimizer="lbfgs", lr=lr, lbfgs_linesearch="backtracking"), 1)
        v, g = jax.value_and_grad(f)(x0)
        u, _ = tx.update(g, tx.init(x0), x0, value=v, grad=g, value_fn=f)
        ups.append(np.asarray(u))
    np.testing.assert_allclose(ups[1], 2 * ups[0], rtol=1e-12)
    # the first direction is -g / ||g|| (optax's initial scaling, capped at a unit step)
    g = np.asarray(jax.grad(f)(x0))
    np.testing.assert_allclose(ups[0], -0.01 * g / np.linalg.norm(g), rtol=1e-12)
    # strong Wolfe (zoom) starts from the same trial step and may lengthen it
    tx = optimizer_for(TrainConfig(optimizer="lbfgs", lr=0.01), 1)
    v, g = jax.value_and_grad(f)(x0)
    u, _ = tx.update(g, tx.init(x0), x0, value=v, grad=g, value_fn=f)
    assert f(optax.apply_updates(x0, u)) < f(x0 + ups[0])
