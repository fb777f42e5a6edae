"""The loss and optimiser registries (docs/registry.md).

The worked example: a squared hinge loss added from this file by registering one ``Loss`` with its
per-sample function, then solved on a small UFM through ``nclandscape.solve`` and checked against
a closed form derived below. Nothing in the library names it.
"""
import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nclandscape import objectives, optimizers
from nclandscape.errors import ConfigError
from nclandscape.objectives import LOSSES, Loss, objective_for, register_loss
from nclandscape.optimizers import ALIASES, OPTIMIZERS, make_optimizer, optimizer_spec, resolve_optimizer
from nclandscape.solve import STATUS_OK, grad_tolerance, solve, tree_norm
from nclandscape.ufm import Problem, init_params

ROOT = Path(__file__).resolve().parents[1]
HINGE = "squared_hinge"


def squared_hinge_per_sample(logits, targets, hparams, class_mask):
    """One-vs-rest squared hinge: ½ Σ_j max(0, 1 − s_j z_j)², s_j = +1 on the true class, −1 elsewhere."""
    sign = 2.0 * targets - 1.0
    h = jnp.maximum(0.0, 1.0 - sign * logits) ** 2
    if class_mask is not None:
        h = h * class_mask[:, None]
    return 0.5 * jnp.sum(h, axis=0)


@pytest.fixture
def hinge(monkeypatch):
    """The squared hinge loss registered for one test (monkeypatch removes it afterwards)."""
    entry = Loss(HINGE, squared_hinge_per_sample, "One-vs-rest squared hinge with weight decay.")
    monkeypatch.setitem(LOSSES, HINGE, entry)
    return entry


def hinge_closed_form(K, n, lambda_W, lambda_H, lambda_b):
    """f* of the squared hinge UFM (bias, balanced, d >= K), derived for the collapsed point.

    At W = √t E (E a unit-row simplex ETF), h_k = c w^k, b = β 1 the logits of a class-k sample
    are a = c t on class k and −a/(K−1) + β elsewhere (plus β on class k). The weight decay
    λ_W K t/2 + λ_H N c² t/2 at fixed a = c t is minimal at t² = λ_H N a²/(λ_W K), where it equals
    γ a, γ = √(λ_W λ_H K N). So

        f = ½ (1 − a − β)² + ½ (K−1) (1 − a/(K−1) + β)² + γ a + λ_b K β²/2.

    Where both hinges are active (u = 1 − a − β > 0, v = 1 − a/(K−1) + β > 0) this is a quadratic
    whose stationary point decouples: ∂f/∂a = −u − v + γ = 0 gives a (1 + 1/(K−1)) = 2 − γ, and
    ∂f/∂β = −u + (K−1) v + λ_b K β = 0 gives β (K + λ_b K) = 2 − K. A common shift of the logits
    can also be bought through the weights (W's rows and the features sharing a direction outside
    the ETF's span, d >= K) at cost γ |shift|; that is not cheaper when λ_b K |β| <= γ, which the
    caller checks.
    """
    k = K - 1
    gamma = math.sqrt(lambda_W * lambda_H * K * K * n)
    a = (2.0 - gamma) / (1.0 + 1.0 / k)
    beta = (1.0 - k) / (1.0 + k + lambda_b * K)
    u, v = 1.0 - a - beta, 1.0 - a / k + beta
    f = 0.5 * u**2 + 0.5 * k * v**2 + gamma * a + lambda_b * K * beta**2 / 2
    return f, dict(a=a, beta=beta, u=u, v=v, gamma=gamma)


@pytest.mark.slow  # about 10 s each on 2 cores (4 L-BFGS solves to ‖∇f‖ ≤ 1e-11, compiled per case)
@pytest.mark.parametrize("case", [dict(K=3, n=2, d=4, lambda_W=1e-2, lambda_H=1e-2, lambda_b=1e-2),
                                  dict(K=4, n=3, d=5, lambda_W=5e-3, lambda_H=2e-2, lambda_b=1e-3)])
def test_squared_hinge_added_from_a_test_solves_to_its_closed_form(hinge, case):
    prob = Problem(**case, loss=HINGE)  # validated by the registry entry
    data, hp = prob.data(), prob.hparams()
    objective = objective_for(HINGE)
    assert objective is hinge
    tol = 1e-9
    run = jax.jit(jax.vmap(lambda k: solve(objective, init_params(k, data), data, hp, optimizer="lbfgs",
                                           max_steps=5000, tol=tol)))
    r = run(jax.random.split(jax.random.PRNGKey(0), 4))
    assert (np.asarray(r.status) == STATUS_OK).all()
    # the gradient at the returned points, recomputed here: within the stopping rule's threshold
    g = jax.vmap(jax.grad(objective), in_axes=(0, None, None))(r.params, data, hp)
    gnorm = jax.vmap(tree_norm)(g)
    assert float(jnp.max(gnorm)) <= float(grad_tolerance(tol, hp)) * (1 + 1e-6)
    f_star, x = hinge_closed_form(case["K"], case["n"], case["lambda_W"], case["lambda_H"], case["lambda_b"])
    assert x["u"] > 0 and x["v"] > 0 and x["a"] > 0  # both hinges active: the quadratic piece
    assert case["lambda_b"] * case["K"] * abs(x["beta"]) <= x["gamma"]  # the bias is the cheaper shift
    # every start reaches f*: ‖∇f‖ <= 1e-11 leaves a value error of order ‖∇f‖²/λ, far below 1e-10
    np.testing.assert_allclose(np.asarray(r.value), f_star, rtol=1e-10)
    # ... at a collapsed point: features equal their class means (the curvature across within-class
    # deviations is at least λ_H = 1e-2, so they are at most ‖∇f‖/λ_H ~ 1e-9)
    H = np.asarray(r.params.H).reshape(4, case["d"], case["K"], case["n"])
    assert np.abs(H - H.mean(axis=-1, keepdims=True)).max() < 1e-7


def test_a_registered_loss_reaches_every_module(hinge):
    from nclandscape.hessian.structured import per_sample_loss, supports
    from nclandscape.landscape.polar import check_loss, etf_plane, polar_loss
    from nclandscape.nets.losses import per_sample_loss as net_loss
    from nclandscape.reduced import reducible
    from nclandscape.theory import theory_applies, theory_for

    prob = Problem(K=3, n=2, d=4, loss=HINGE)
    assert prob.loss_family == HINGE and not theory_applies(prob)
    with pytest.raises(ConfigError, match="has no closed form"):
        theory_for(prob)
    assert supports(HINGE) and not reducible(HINGE, "gd")[0]
    data, hp = prob.data(), prob.hparams()
    z = jnp.asarray(np.random.default_rng(0).standard_normal((3, 6)))
    np.testing.assert_array_equal(per_sample_loss(HINGE, data, hp)(z, data.Y),
                                  squared_hinge_per_sample(z, data.Y, hp, data.class_mask))
    # networks: the (B, K) / integer-label layout is derived from the per-sample function
    labels = jnp.asarray([0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(net_loss(HINGE)(z.T, labels, {"alpha": 1.0, "M": 1.0}),
                               squared_hinge_per_sample(z, data.Y, hp, None), rtol=1e-15)
    check_loss(HINGE)
    assert float(polar_loss(1.0, 0.0, etf_plane(3), hp, loss=HINGE)) >= 0.0
    # a loss without alpha/M refuses them where flags are strict, like vanilla MSE
    with pytest.raises(ConfigError, match="apply to loss rescaled_mse only"):
        hinge.check_hparams(where="--", strict=True, alpha=2.0, M=1.0)


def test_register_loss(monkeypatch):
    monkeypatch.setattr(objectives, "LOSSES", dict(LOSSES))
    entry = register_loss(Loss(HINGE, squared_hinge_per_sample))
    assert objectives.loss_of(HINGE) is entry and HINGE not in LOSSES
    with pytest.raises(ConfigError, match="already registered"):
        register_loss(Loss(HINGE, squared_hinge_per_sample))
    with pytest.raises(ConfigError, match="unknown hyper-parameter"):
        Loss("bad", squared_hinge_per_sample, hparams=("beta",))


def test_loss_entries():
    assert objective_for("mse") is objectives.mse_objective and objective_for("ce") is objectives.ce_objective
    assert {n: l.family for n, l in LOSSES.items()} == {"mse": "mse", "rescaled_mse": "mse", "ce": "ce"}
    assert [n for n, l in LOSSES.items() if l.hparams] == ["rescaled_mse"]
    assert [n for n, l in LOSSES.items() if l.closed_form] == ["mse", "ce"]
    from nclandscape import theory

    p = Problem(K=3, n=2, d=4, bias=False)
    assert LOSSES["mse"].closed_form.critical_points(p, (0,)).f == theory.nobias_critical_point(3, 2, 4, 1e-3, 1e-3, (0,)).f
    assert LOSSES["mse"].closed_form.summary(p) == theory.theory_for(p)
    assert Problem(loss="mse", alpha=3.0).hparams().alpha == 1.0  # not taken: the neutral value
    assert Problem(loss="rescaled_mse", alpha=3.0).hparams().alpha == 3.0
    with pytest.raises(ConfigError, match="must be finite numbers >= 1"):
        Problem(loss="rescaled_mse", M=0.5)
    with pytest.raises(ConfigError, match="choose one of mse, rescaled_mse, ce"):
        Problem(loss="hinge")


# ----------------------------------------------------------------------------- optimisers
def test_aliases_resolve_to_one_meaning():
    assert resolve_optimizer("sgd") == "gd" and ALIASES["sgd"].minibatch
    assert optimizer_spec("sgd") is OPTIMIZERS["gd"]
    with pytest.raises(ConfigError, match="choose one of gd, momentum, nesterov, adam, lbfgs, newton, sgd"):
        resolve_optimizer("rmsprop")
    with pytest.raises(ConfigError, match="not an optax transformation"):
        make_optimizer("newton")
    with pytest.raises(ConfigError, match="takes no momentum"):
        make_optimizer("adam", momentum=0.9)


def _updates(tx, steps=3):
    f = lambda x: 0.5 * jnp.sum(jnp.asarray([1.0, 4.0]) * x**2)  # noqa: E731
    x, s = jnp.asarray([1.0, -2.0]), tx.init(jnp.asarray([1.0, -2.0]))
    for _ in range(steps):
        u, s = tx.update(jax.grad(f)(x), s, x)
        x = optax.apply_updates(x, u)
    return np.asarray(x)


def test_sgd_is_optax_sgd_with_the_callers_momentum():
    lr = 0.1
    # plain: the sgd alias, gd and optax.sgd are one transformation
    np.testing.assert_array_equal(_updates(make_optimizer("sgd", learning_rate=lr)), _updates(optax.sgd(lr)))
    # with a heavy-ball coefficient (the ResNet trainer passes its momentum) it is `momentum`
    np.testing.assert_array_equal(_updates(make_optimizer("sgd", learning_rate=lr, momentum=0.9)),
                                  _updates(make_optimizer("momentum", learning_rate=lr)))
    np.testing.assert_array_equal(_updates(make_optimizer("nesterov", learning_rate=lr)),
                                  _updates(optax.sgd(lr, momentum=optimizers.DEFAULT_MOMENTUM, nesterov=True)))


def test_trainer_and_bench_read_the_registry():
    from nclandscape.nets.config import TrainConfig
    from nclandscape.nets.runner import make_schedule, optimizer_for
    from nclandscape.optbench.config import BenchConfig
    from nclandscape.reduced.fused import FUSED_OPTIMIZERS
    from nclandscape.reduced.state import REDUCIBLE_OPTIMIZERS

    # the trainer's default: minibatch SGD with heavy-ball momentum 0.9 (optax.sgd, as before)
    cfg = TrainConfig(schedule="constant", lr=0.1)
    assert cfg.optimizer == "sgd" and cfg.momentum == 0.9
    before = optimizers.standard_promotion(optax.inject_hyperparams(optax.sgd)(learning_rate=make_schedule(cfg, 1),
                                                                                momentum=0.9))
    np.testing.assert_array_equal(_updates(optimizer_for(cfg, 1)), _updates(before))
    # the benchmark: sgd is gd on minibatches, no momentum; --momentum reaches momentum/nesterov only
    bench = BenchConfig(K=3, n=4, d=3, batch_size=2)
    assert bench.minibatch("sgd") and not bench.minibatch("gd") and bench.solve_name("sgd") == "gd"
    assert bench.momentum_of("sgd") is None and bench.momentum_of("nesterov") == 0.9
    assert bench.lr_of("sgd") == bench.lr_of("nesterov") == bench.sgd_lr and bench.lr_of("adam") == bench.adam_lr
    assert FUSED_OPTIMIZERS == ("gd", "momentum", "nesterov")
    assert REDUCIBLE_OPTIMIZERS == ("gd", "momentum", "nesterov", "lbfgs")


# ----------------------------------------------------------------------------- one place per name
NAMES = r"mse|rescaled_mse|ce|gd|sgd|momentum|nesterov|adam|lbfgs|newton"
REGISTRIES = {"nclandscape/objectives.py", "nclandscape/optimizers.py"}
# Hyper-parameter names that are also optimiser names (a config field, an optax keyword).
HPARAM_KEYS = {("nclandscape/commands/train.py", "momentum")}


def test_names_are_written_only_in_the_registries():
    found = []
    for path in sorted((ROOT / "nclandscape").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in REGISTRIES:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for m in re.finditer(rf"[\"']({NAMES})[\"']", line):
                if (rel, m.group(1)) not in HPARAM_KEYS:
                    found.append(f"{rel}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
