"""The fused reduced solver (nclandscape.reduced.fused) against the full UFM engine, float64.

The reference is the full simulation (``nclandscape.solve.solve`` on ``Params`` with every
sample's feature) from the same start; the fused run is reconstructed with ``expand_params``.
Both backends are checked: ``xla`` (plain JAX) and ``interpret`` (the Pallas kernel that runs on a
GPU, executed by the Pallas interpreter), and the kernel is lowered for CUDA (Triton IR is built
on any machine) so that a construct Triton cannot express fails here, not on the GPU.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _problems import random_padded_problems
from nclandscape.errors import ConfigError
from nclandscape.objectives import mse_objective
from nclandscape.reduced import (
    ReducedParams, expand_params, make_reduced_data, reduce_data, reduce_params, reduced_init, reduced_solve,
)
from nclandscape.reduced.fused import fused_flops_per_step, fused_reduced_solve, fusable, resolve_backend
from nclandscape.solve import STATUS_DIVERGED, STATUS_OK, solve
from nclandscape.ufm import make_hparams

PAD = (6, 40, 8)  # (K, N, d) bucket of every random problem below
LR = {"gd": 0.2, "momentum": 0.05, "nesterov": 0.05}


def _random_problems(seed, n_problems=3):
    return random_padded_problems(seed, PAD, n_problems=n_problems, random_target=True)


@functools.cache
def _triple(optimizer, steps, backend):
    """Full run, fused run (reconstructed) and optax reduced run from one start; compiled once."""

    def run(p0, data, hp):
        rp0, basis = reduce_params(p0, data, loss="mse")
        rdata = reduce_data(data, basis)
        lr = LR[optimizer]
        full = solve(mse_objective, p0, data, hp, optimizer=optimizer, lr=lr, max_steps=steps, tol=0.0)
        fused = fused_reduced_solve(rp0, rdata, hp, optimizer=optimizer, lr=lr, max_steps=steps, tol=0.0,
                                    backend=backend)
        red = reduced_solve(rp0, rdata, hp, optimizer=optimizer, lr=lr, max_steps=steps, tol=0.0)
        return full, fused, expand_params(fused.params, basis, data), red

    return jax.jit(run)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
@pytest.mark.parametrize("backend", ["xla", "interpret"])
def test_fused_trajectory_equals_full(optimizer, backend):
    """After 250 steps: objective, W, b and every reconstructed feature equal the full run to 1e-10."""
    steps = 250
    run = _triple(optimizer, steps, backend)
    for data, hp, p0 in _random_problems(21):
        full, fused, rec, red = run(p0, data, hp)
        assert int(fused.steps) == int(full.steps) == steps
        scale = max(1.0, float(jnp.max(jnp.abs(full.params.H))))
        assert abs(float(fused.value) - float(full.value)) <= 1e-10 * max(1.0, abs(float(full.value)))
        assert float(jnp.max(jnp.abs(rec.W - full.params.W))) <= 1e-10 * scale
        assert float(jnp.max(jnp.abs(rec.b - full.params.b))) <= 1e-10 * scale
        assert float(jnp.max(jnp.abs(rec.H - full.params.H))) <= 1e-10 * scale
        assert abs(float(fused.grad_norm) - float(full.grad_norm)) <= 1e-10 * max(1.0, float(full.grad_norm))
        # and the optax reduced engine agrees with both (same iterate, different code)
        assert float(jnp.max(jnp.abs(fused.params.D - red.params.D))) <= 1e-10 * scale
    # the run moved: the final point is far from the start (the comparison is not vacuous)
    assert float(jnp.max(jnp.abs(full.params.W - p0.W))) > 1e-2


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["xla", "interpret"])
def test_fused_stops_where_the_full_engine_stops(backend):
    """Early stopping (‖∇f‖ ≤ tol·λ_s) and divergence give the full engine's step count and status."""
    data, hp, p0 = _random_problems(5, 1)[0]
    rp0, basis = reduce_params(p0, data, loss="mse")
    rdata = reduce_data(data, basis)
    lam_s = float(min(hp.lambda_W, hp.lambda_H))
    for lr, tol, want in ((0.2, 1e-4 / lam_s, STATUS_OK), (40.0, 1e-4 / lam_s, STATUS_DIVERGED)):
        full = solve(mse_objective, p0, data, hp, optimizer="gd", lr=lr, max_steps=5000, tol=tol)
        fused = fused_reduced_solve(rp0, rdata, hp, optimizer="gd", lr=lr, max_steps=5000, tol=tol, backend=backend)
        assert int(full.status) == want
        assert int(fused.status) == want
        assert int(fused.steps) == int(full.steps)
        assert 0 < int(full.steps) < 5000
        if want == STATUS_OK:
            assert float(fused.grad_norm) <= 1e-4  # the gradient threshold tol·λ_s
            assert abs(float(fused.value) - float(full.value)) <= 1e-12


@pytest.mark.slow
def test_fused_vmaps_over_configurations_and_backends_agree():
    """``vmap`` over 4 sampled configurations (own λ, lr, start): the kernel (interpreted, grid of
    4 programs) equals the plain-JAX loop, and each row equals its own unbatched run."""
    rdata0 = make_reduced_data(5, 300, 16, pad_to=(8, 16))
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    rp0, rdata = jax.jit(jax.vmap(lambda k: reduced_init(k, rdata0, scale=0.3)))(keys)
    lams = jnp.geomspace(1e-3, 1e-1, 4)
    lrs = jnp.linspace(0.1, 0.3, 4)

    def one(rp, rd, lam, lr, backend):
        return fused_reduced_solve(rp, rd, make_hparams(lam, lam, lam), optimizer="nesterov", lr=lr,
                                   max_steps=250, tol=1e-7 / lam, backend=backend)  # gradient threshold 1e-7

    a = jax.jit(jax.vmap(functools.partial(one, backend="interpret")))(rp0, rdata, lams, lrs)
    b = jax.jit(jax.vmap(functools.partial(one, backend="xla")))(rp0, rdata, lams, lrs)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.value, b.value, rtol=1e-12)
    np.testing.assert_allclose(a.params.D, b.params.D, atol=1e-12)
    assert len(set(np.asarray(a.steps).tolist())) > 1  # configurations stop at their own step
    i = 2
    single = one(jax.tree_util.tree_map(lambda x: x[i], rp0), jax.tree_util.tree_map(lambda x: x[i], rdata),
                 lams[i], lrs[i], "xla")
    assert int(single.steps) == int(b.steps[i])
    np.testing.assert_allclose(single.value, b.value[i], rtol=1e-12)


@pytest.mark.parametrize("precision,warps", [("highest", 4), ("tf32x3", 8), ("default", 2)])
def test_kernel_lowers_to_triton_for_cuda(precision, warps):
    """The GPU kernel (float32, K=10 → 16, d=64, vmapped over 32 configurations) lowers to one
    Triton call with a grid over configurations, on a machine without a GPU."""
    rdata = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (32,) + x.shape),
                                   make_reduced_data(10, 100, 64, dtype=jnp.float32))
    rng = np.random.default_rng(0)
    rp0 = ReducedParams(*(jnp.asarray(0.1 * rng.standard_normal((32,) + s), jnp.float32)
                          for s in ((10, 64), (10,), (64, 10), (64, 64))))

    def one(rp, rd, lam):
        hp = make_hparams(lam, lam, lam, dtype=jnp.float32)
        return fused_reduced_solve(rp, rd, hp, optimizer="momentum", lr=0.05, max_steps=100, tol=0.0,
                                   backend="pallas", precision=precision, num_warps=warps)

    lams = jnp.geomspace(1e-4, 1e-2, 32).astype(jnp.float32)
    text = jax.jit(jax.vmap(one)).trace(rp0, rdata, lams).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("xla.gpu.triton") == 1
    assert "grid_x = 32" in text and f"num_warps = {warps}" in text


def test_refusals_and_flop_count():
    rdata = make_reduced_data(3, 4, 2)
    per_class = ReducedParams(jnp.ones((3, 2)), jnp.ones(3), jnp.ones((2, 3)), jnp.ones((3, 2, 2)))
    shared = per_class._replace(D=jnp.ones((2, 2)))
    hp = make_hparams(1e-2, 1e-2, 1e-2, 2.0, 1.0)
    with pytest.raises(ConfigError, match="shared layout"):
        fused_reduced_solve(per_class, rdata, hp)
    assert not fusable("mse", "lbfgs")[0] and "lbfgs" in fusable("mse", "lbfgs")[1]
    assert not fusable("rescaled_mse", "gd")[0]
    with pytest.raises(ConfigError, match="choose one of"):
        resolve_backend("cuda")
    with pytest.raises(ConfigError, match="needs backend='pallas'"):
        fused_reduced_solve(shared, rdata, hp._replace(alpha=1.0), backend="xla", precision="tf32x3")
    assert resolve_backend("auto") == ("pallas" if jax.default_backend() == "gpu" else "xla")
    # K=10, d=r=64: 3 K×d×K and 3 K×d×r products
    assert fused_flops_per_step(10, 64) == 2 * (3 * 10 * 64 * 10 + 3 * 10 * 64 * 64)
    assert fused_flops_per_step(10, 64, padded=True) == 2 * (3 * 16 * 64 * 16 + 3 * 16 * 64 * 64)


def test_shared_layout_with_alpha_not_one_is_marked_diverged():
    """α ≠ 1 is not exact in the shared layout: the value is NaN and the run says diverged (as the
    optax reduced objective does), never a silently wrong number."""
    rdata = make_reduced_data(3, 5, 4)
    rp0 = ReducedParams(jnp.ones((3, 4)), jnp.ones(3), jnp.ones((4, 3)), jnp.eye(4))
    r = fused_reduced_solve(rp0, rdata, make_hparams(1e-2, 1e-2, 1e-2, 2.0, 1.0), backend="xla")
    assert int(r.status) == STATUS_DIVERGED and int(r.steps) == 0


@pytest.mark.slow
@pytest.mark.parametrize("d_block", [16, 32])
def test_kernel_with_several_column_blocks_equals_plain_loop(d_block):
    """d = 40 pads to 64 columns of D, carried by the kernel as 4 (or 2) column blocks: the
    interpreted kernel equals the one-block plain-JAX loop after 200 Nesterov steps."""
    rdata0 = make_reduced_data(5, 50, 40, bias=False)
    rp0, rdata = jax.jit(lambda k: reduced_init(k, rdata0, scale=0.3))(jax.random.PRNGKey(7))
    hp = make_hparams(3e-3, 1e-2, 0.0, 1.0, 1.3)

    def run(backend):
        return jax.jit(lambda rp: fused_reduced_solve(rp, rdata, hp, optimizer="nesterov", lr=0.02, max_steps=200,
                                                      tol=0.0, backend=backend, d_block=d_block))(rp0)

    a, b = run("interpret"), run("xla")
    assert int(a.steps) == int(b.steps) == 200
    assert abs(float(a.value) - float(b.value)) <= 1e-12 * abs(float(b.value))
    for x, y in zip(a.params, b.params):
        np.testing.assert_allclose(x, y, atol=1e-12)
    assert float(jnp.max(jnp.abs(a.params.D - rp0.D))) > 1e-3  # D really moved
