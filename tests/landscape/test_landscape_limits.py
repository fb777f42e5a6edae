"""The K → ∞ closed forms of the MSE paper's App. C.2 (eqs. 33–35) and the exact CE limit.

Each gradient is checked against central finite differences of its own loss (float64), and
each loss against the real per-sample objective of the feature on the K → ∞ plane and on
large-K simplex-ETF planes (``nclandscape.landscape.polar``), which never uses these formulas.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape.landscape.limits import (
    LIMIT_FORMS, ce_exact_limit, ce_paper_limit, limit_field, limit_value_and_grad, mse_limit,
)
from nclandscape.landscape.polar import etf_plane, limit_plane, polar_loss
from nclandscape.objectives import ce_per_sample
from nclandscape.ufm import make_hparams

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(7)
S = RNG.uniform(0.05, 6.0, 40)
T = RNG.uniform(-math.pi, math.pi, 40)
CASES = [("mse", 1.0, 1.0), ("rescaled_mse", 3.0, 1.0), ("rescaled_mse", 1.0, 4.0),
         ("rescaled_mse", 5.0, 2.5), ("ce_paper", 1.0, 1.0), ("ce_exact", 1.0, 1.0)]


def _loss(form, s, t, a, M):
    return limit_value_and_grad(form, s, t, a, M)[0]


@pytest.mark.parametrize("form,alpha,M", CASES)
def test_gradients_match_finite_differences(form, alpha, M):
    s, t = jnp.asarray(S), jnp.asarray(T)
    _, gs, gt = limit_value_and_grad(form, s, t, alpha, M)
    h = 1e-6
    fd_s = (_loss(form, s + h, t, alpha, M) - _loss(form, s - h, t, alpha, M)) / (2 * h)
    fd_t = (_loss(form, s, t + h, alpha, M) - _loss(form, s, t - h, alpha, M)) / (2 * h)
    scale = 1.0 + np.abs(np.asarray(fd_s)) + np.abs(np.asarray(fd_t))
    assert np.max(np.abs(np.asarray(gs) - np.asarray(fd_s)) / scale) < 1e-7
    assert np.max(np.abs(np.asarray(gt) - np.asarray(fd_t)) / scale) < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("alpha,M", [(1.0, 1.0), (3.0, 1.0), (1.0, 4.0), (5.0, 2.5)])
def test_mse_limit_is_the_real_objective_on_the_limit_plane(alpha, M):
    hp = make_hparams(0.0, 0.0, 0.0, alpha, M)
    real = jax.vmap(lambda s, t: polar_loss(s, t, limit_plane(), hp, loss="rescaled_mse"))(S, T)
    np.testing.assert_allclose(np.asarray(mse_limit(S, T, alpha, M)), np.asarray(real), rtol=1e-13, atol=1e-13)
    # and the finite-K objective approaches it: the gap is exactly s^2/(2(K-1)) (THEORY.md §7)
    K = 1000
    finite = jax.vmap(lambda s, t: polar_loss(s, t, etf_plane(K), hp, loss="rescaled_mse"))(S, T)
    gap = np.asarray(finite) - np.asarray(mse_limit(S, T, alpha, M))
    assert np.all(np.abs(gap) <= 10 * S**2 / K)


def test_ce_paper_form_is_two_logit_ce():
    z = np.stack([S * np.cos(T), S * np.sin(T)])  # (2, n): logits of classes k and k'
    y = np.zeros_like(z)
    y[0] = 1.0
    two_logit = np.asarray(ce_per_sample(jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_allclose(np.asarray(ce_paper_limit(S, T)), two_logit, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_ce_exact_limit_is_large_K_ce_minus_log_K_minus_1():
    hp = make_hparams(0.0, 0.0, 0.0, 1.0, 1.0)
    errs = []
    for K in (100, 10_000):
        ce = jax.vmap(lambda s, t: polar_loss(s, t, etf_plane(K), hp, loss="ce"))(S, T)
        errs.append(np.max(np.abs(np.asarray(ce) - math.log(K - 1) - np.asarray(ce_exact_limit(S, T)))))
    # the remainder is o(1): it shrinks with K, and at K = 10^4 it is below e^{s}/K-size terms
    assert errs[1] < errs[0] / 20 and errs[1] < 0.05
    # the paper's form is not that limit: it differs by log(e^{s cos θ} + e^{s sin θ})
    diff = np.asarray(ce_paper_limit(S, T) - ce_exact_limit(S, T))
    np.testing.assert_allclose(diff, np.logaddexp(S * np.cos(T), S * np.sin(T)), rtol=1e-12)


@pytest.mark.slow
def test_eq34_matches_autodiff_of_the_real_objective():
    from nclandscape.landscape.polar import polar_value_and_grad

    for alpha, M in ((1.0, 1.0), (4.0, 2.0)):
        hp = make_hparams(0.0, 0.0, 0.0, alpha, M)
        _, gs, gt = jax.vmap(lambda s, t: polar_value_and_grad(s, t, limit_plane(), hp,
                                                               loss="rescaled_mse"))(S, T)
        _, cs, ct = limit_value_and_grad("rescaled_mse", S, T, alpha, M)
        np.testing.assert_allclose(np.asarray(cs), np.asarray(gs), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(ct), np.asarray(gt), rtol=1e-12, atol=1e-12)


def test_limit_field_grid_layout_and_bad_form():
    from nclandscape.errors import ConfigError

    s, t = np.linspace(0, 2, 5), np.linspace(0, math.pi, 7)
    for form in LIMIT_FORMS:
        g = limit_field(form, s, t, 2.0, 3.0)
        assert g.loss.shape == g.grad_s.shape == g.grad_theta.shape == (5, 7)
        i, j = 3, 4
        f, gs, gt = limit_value_and_grad(form, s[i], t[j], 2.0, 3.0)
        assert abs(float(g.loss[i, j]) - float(f)) < 1e-14 and abs(float(g.grad_theta[i, j]) - float(gt)) < 1e-14
    # vanilla "mse" ignores alpha and M
    assert float(limit_field("mse", s, t, 2.0, 3.0).loss[0, 0]) == 0.5
    with pytest.raises(ConfigError, match="form='ce'"):
        limit_value_and_grad("ce", 1.0, 0.0)
