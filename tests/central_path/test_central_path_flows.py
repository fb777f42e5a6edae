"""Central-path flows against their exact ω-laws (THEORY_central_path.md §3), full and class-reduced."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape import central_path as cp
from nclandscape.errors import ConfigError
from nclandscape.metrics import nc_metrics
from nclandscape.ufm import make_hparams

K, n, d = 4, 5, 6
# Time ranges over which every nonzero ω grows at least 3× from the seed-0 whitened start.
T_MAX = {"projected": 5000.0, "renormalized": 1000.0, "plain": 250.0}


@pytest.fixture(scope="module")
def start():
    return cp.whitened_start(jax.random.PRNGKey(0), K, n, d)


def test_whitened_start_is_whitened(start):
    H, Y = start
    st = cp.class_stats(H, Y)
    np.testing.assert_allclose(np.asarray(st.Sigma_W), np.eye(d), atol=1e-13)
    np.testing.assert_allclose(np.asarray(st.means @ st.weights), np.zeros(d), atol=1e-14)
    with pytest.raises(ConfigError, match="d=9 > K"):
        cp.whitened_start(jax.random.PRNGKey(0), 4, 3, 9)


@pytest.mark.slow
@pytest.mark.parametrize("kind", cp.FLOW_KINDS)
@pytest.mark.parametrize("reduced", [False, True])
def test_flow_matches_its_law(start, kind, reduced):
    H, Y = start
    ts = jnp.linspace(0.0, T_MAX[kind], 11)
    state, data = (cp.reduce_state(H, Y), n) if reduced else (H, Y)
    states = cp.integrate_flow(kind, state, ts, data, reduced=reduced)
    om = np.asarray(jax.vmap(lambda s: cp.flow_omega(s, data, reduced=reduced))(states))
    law = np.asarray(cp.omega_law(kind, ts, om[0], K=K, n=n))
    assert np.min(om[-1] / om[0]) >= 3.0  # the range is long enough to test the law
    # 1e-6 relative (the done-when bound); the integrator (rtol 1e-12) actually reaches ~1e-10.
    assert np.max(np.abs(om - law) / law) <= 1e-6


def test_laws_differ_between_flows(start):
    """The three laws are different functions: a solver must say which flow it implements."""
    H, Y = start
    w0 = cp.snr_singular_values(H, Y)
    t = jnp.asarray([200.0])
    a, b, c = (np.asarray(cp.omega_law(k, t, w0, K=K, n=n)) for k in cp.FLOW_KINDS)
    assert np.min(np.abs(a - b) / a) > 0.05 and np.min(np.abs(b - c) / b) > 0.05


@pytest.mark.parametrize("kind", ["projected", "renormalized"])
def test_law_solves_its_ode(kind):
    """The inverted law satisfies dω/dt = rate(ω) (central difference), ω(0) = ω0, zeros stay zero."""
    w0 = jnp.asarray([3.0, 1.2, 0.4, 0.0])
    Kc, nc = 5, 7
    ts = jnp.asarray([0.0, 10.0, 1e3, 1e5])
    h = 1e-3
    w = cp.omega_law(kind, ts, w0, K=Kc, n=nc)
    np.testing.assert_allclose(np.asarray(w[0]), np.asarray(w0), rtol=1e-14)
    deriv = (cp.omega_law(kind, ts + h, w0, K=Kc, n=nc) - cp.omega_law(kind, ts - h, w0, K=Kc, n=nc)) / (2 * h)
    rate = cp.omega_rate(kind, w, K=Kc, n=nc)
    # Central difference: O(h²) truncation plus rounding eps·ω/h ≈ 1e-12 relative to a rate ≳ 1e-6.
    np.testing.assert_allclose(np.asarray(deriv[:, :3]), np.asarray(rate[:, :3]), rtol=2e-6)
    assert np.all(np.asarray(w[:, 3]) == 0.0)


def test_projected_rate_and_long_time_behaviour():
    """ω ≈ (4t/n)^{1/4} along the projected flow at large t (the rate reported by the paper)."""
    w0 = jnp.asarray([1.0, 2.0])
    t = jnp.asarray([1e12])
    w = np.asarray(cp.omega_law("projected", t, w0, K=3, n=10))[0]
    np.testing.assert_allclose(w, (4 * 1e12 / 10) ** 0.25, rtol=1e-3)


@pytest.mark.slow
def test_nc_metrics_along_projected_flow(start):
    """NC1, NC2 (classifier Gram), NC3 of whitened features with the LS classifier = formulas in ω."""
    H, Y = start
    ts = jnp.asarray([0.0, 500.0, 3000.0])
    Hs = cp.integrate_flow("projected", H, ts, Y)
    for Ht in Hs:
        omega = cp.snr_singular_values(Ht, Y)
        ls = cp.ls_classifier(Ht, Y, lam_W=0.0, lam_b=0.0)
        m = nc_metrics(ls.W, Ht, ls.b, Y)
        pred = cp.nc_of_omega(omega)
        # 1e-9: ω from an SVD and NC from the library's eigen-route, both on float64 features.
        for got, want in [(m.nc1, pred.nc1), (m.nc2, pred.nc2), (m.nc3, pred.nc3)]:
            assert float(got) == pytest.approx(float(want), rel=1e-9, abs=1e-13)


@pytest.mark.slow
def test_renormalized_flow_is_the_limit_of_step_then_whiten(start):
    """Euler step of −∇F, then re-whiten, converges to the renormalized flow at first order in η."""
    H, Y = start
    hp = make_hparams(0.0, 0.0, 0.0)
    T = 100.0
    ref = cp.snr_singular_values(cp.integrate_flow("renormalized", H, jnp.asarray([0.0, T]), Y)[-1], Y)

    def whiten(X):
        st = cp.class_stats(X, Y)
        s, U = jnp.linalg.eigh(st.Sigma_W)
        return (U / jnp.sqrt(s)[None, :]) @ U.T @ (X - (st.means @ st.weights)[:, None])

    def run(eta):
        steps = int(round(T / eta))

        def body(X, _):
            return whiten(X - eta * cp.central_path_value_and_grad(X, Y, hp)[1]), None

        X, _ = jax.lax.scan(body, H, None, length=steps)
        return cp.snr_singular_values(X, Y)

    errs = [float(jnp.max(jnp.abs(run(eta) - ref) / ref)) for eta in (2.0, 1.0)]
    assert errs[0] < 0.05  # close to the flow ...
    assert errs[1] / errs[0] == pytest.approx(0.5, abs=0.05)  # ... and first order in η


@pytest.mark.slow
@pytest.mark.parametrize("kind", cp.FLOW_KINDS)
def test_rk4_step_agrees_with_adaptive_integrator(start, kind):
    H, Y = start
    flow = cp.central_path_flow(kind, reduced=True)
    state = cp.reduce_state(H, Y)
    step = jax.jit(lambda s: flow.step(s, 1.0, n))
    for _ in range(50):
        state, metrics = step(state)
    ref = cp.integrate_flow(kind, cp.reduce_state(H, Y), jnp.asarray([0.0, 50.0]), n, reduced=True)
    ref = jax.tree_util.tree_map(lambda x: x[-1], ref)
    w, w_ref = cp.flow_omega(state, n, reduced=True), cp.flow_omega(ref, n, reduced=True)
    # RK4 with h = 1 on time scales N(K + ω²) ≳ 100: global error ~ (h/100)^4.
    np.testing.assert_allclose(np.asarray(w), np.asarray(w_ref), rtol=1e-8)
    assert float(metrics.F) == pytest.approx(float(cp.central_path_loss(w_ref)), rel=1e-8)


def test_unknown_flow_is_rejected():
    with pytest.raises(ConfigError, match="flow='sideways'"):
        cp.central_path_flow("sideways")


@pytest.mark.slow
def test_plain_flow_through_a_crossing_of_singular_values():
    """Under the plain flow the smallest ω grows fastest: the sorted law must follow the measured
    (sorted) singular values through the crossing."""
    K3, n3, d3 = 3, 3, 2
    H, Y = cp.whitened_start(jax.random.PRNGKey(0), K3, n3, d3)
    ts = jnp.linspace(0.0, 112.5, 6)
    states = cp.integrate_flow("plain", cp.reduce_state(H, Y), ts, n3, reduced=True)
    om = np.asarray(jax.vmap(lambda s: cp.flow_omega(s, n3, reduced=True))(states))
    w0 = om[0]
    unsorted = w0 * np.exp(np.asarray(ts)[:, None] / (K3 * n3 * (K3 + w0**2)))
    assert np.argmax(unsorted[-1]) != np.argmax(unsorted[0])  # the order did change
    law = np.asarray(cp.omega_law("plain", ts, w0, K=K3, n=n3))
    assert np.max(np.abs(om - law) / law) <= 1e-8  # integrator tolerance 1e-12 over a 16× growth
