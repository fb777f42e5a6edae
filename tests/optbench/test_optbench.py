"""optbench: rows against single ``solve`` runs, minibatch SGD against a plain loop,
L-BFGS to the closed-form f*, summary definitions, resume and plotting from files."""
import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nclandscape import cli
from nclandscape.errors import ConfigError
from nclandscape.objectives import objective_for
from nclandscape.optbench import BenchConfig, minibatch_mask, minibatch_objective, run_benchmark, run_optimizer
from nclandscape.optbench.run import bench_dtype, read_optimizer_file, tol_of
from nclandscape.optbench.sgd import batch_key, steps_per_epoch
from nclandscape.optbench.summary import first_reach, per_seed, quantile, resolve_f_star, summarize
from nclandscape.metrics import nc_metrics
from nclandscape.solve import DEFAULT_TOL, solve
from nclandscape.theory import mse_global_min
from nclandscape.ufm import init_params

# One small MSE benchmark shared by the row tests: 45 steps recorded every 10 (a 5-step
# remainder chunk), tol 2e-4 (gradient threshold tol·λ_s = 1e-5) so that L-BFGS seeds stop early
# under solve's rule. (nesterov is
# momentum with one optax flag; it is left out to keep the compile time of the suite down.)
MSE = BenchConfig(K=4, n=3, d=5, lambda_W=5e-2, lambda_H=5e-2, lambda_b=1e-2, seeds=3, steps=45, record_every=10,
                  optimizers=("sgd", "momentum", "adam", "lbfgs"), x64=True, tol=2e-4,
                  lr_overrides=(("sgd", 0.2),), no_plots=True)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def mse_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("optbench_mse"))
    res = run_benchmark(MSE, out)
    assert res["ran"] == list(MSE.optimizers) and res["reused"] == []
    return out


def _solve_runner(config, solve_name):
    """``solve`` (lax.while_loop with its own stopping rule) from seed ``s``'s init, one compile
    for every seed: what ``solve_problem`` runs, without recompiling per seed."""
    prob = config.problem()
    data, hp = prob.data(dtype=jnp.float64), prob.hparams(dtype=jnp.float64)
    objective = objective_for(prob.loss)

    @jax.jit
    def run(key, lr, tol):
        r = solve(objective, init_params(key, data, scale=config.scale), data, hp, optimizer=solve_name, lr=lr,
                  max_steps=config.steps, tol=tol)
        return r, nc_metrics(r.params.W, r.params.H, r.params.b * data.bias, data.Y)

    return run


@pytest.fixture(scope="module")
def solve_runs():
    """{(optimizer, seed): (SolveResult, NCMetrics)} of single solve runs."""
    out = {}
    for name in MSE.optimizers:
        run = _solve_runner(MSE, MSE.solve_name(name))
        for s in range(MSE.seeds):
            out[name, s] = run(jax.random.PRNGKey(s), MSE.lr_of(name), MSE.tol)
    return out


@pytest.mark.slow
def test_rows_match_single_solve_runs(mse_dir, solve_runs):
    rows = _rows(os.path.join(mse_dir, "seeds.csv"))
    assert len(rows) == len(MSE.optimizers) * MSE.seeds
    early = 0
    for (name, s), (r, m) in solve_runs.items():
        row = next(x for x in rows if x["optimizer"] == name and int(x["seed"]) == s)
        # Same stopping rule: the same number of steps, also when a seed stopped early.
        assert int(row["steps_taken"]) == int(r.steps)
        early += int(r.steps) < MSE.steps
        # 1e-12 relative: the same float64 operations; vmapped (batched) matmuls may round
        # differently in the last bit, amplified a little over 45 steps (measured <= 1e-16).
        assert float(row["value"]) == pytest.approx(float(r.value), rel=1e-12)
        assert float(row["grad_norm"]) == pytest.approx(float(r.grad_norm), rel=1e-8, abs=1e-13)
        for k in ("nc1", "nc2", "nc3"):
            # NC metrics go through eigh/normalisations: rel 1e-8 covers last-bit differences
            # of the parameters; abs 1e-12 for metrics that are ~0 at collapsed points.
            assert float(row[k]) == pytest.approx(float(getattr(m, k)), rel=1e-8, abs=1e-12), (name, s, k)
    assert early > 0  # the stopping rule was exercised (L-BFGS stops before 45 steps)


@pytest.mark.slow
def test_summary_rows_are_medians_of_solve_runs(mse_dir, solve_runs):
    """The summary table's final metrics are the medians of the single solve runs' numbers."""
    summ = {r["optimizer"]: r for r in _rows(os.path.join(mse_dir, "summary.csv"))}
    prob = MSE.problem()
    f_star = mse_global_min(prob.K, prob.n, prob.d, prob.lambda_W, prob.lambda_H, prob.lambda_b).f_star
    for name in MSE.optimizers:
        res = [solve_runs[name, s] for s in range(MSE.seeds)]
        gaps = [float(r.value) - f_star for r, _ in res]
        # 1e-9: medians of per-seed values that agree to ~1e-12 (previous test); gaps are
        # differences of nearly equal numbers, hence the absolute 1e-13.
        assert float(summ[name]["final_gap_median"]) == pytest.approx(np.median(gaps), rel=1e-9, abs=1e-13)
        for k in ("nc1", "nc2", "nc3"):
            med = np.median([float(getattr(m, k)) for _, m in res])
            assert float(summ[name][f"final_{k}_median"]) == pytest.approx(med, rel=1e-8, abs=1e-12)
        assert float(summ[name]["frac_global_min"]) == np.mean([g <= MSE.success_gap for g in gaps])


@pytest.mark.slow
def test_cli_solve_seed_equals_optbench_row(mse_dir, capsys):
    """The public contract: ``nclandscape solve --seed s`` (i.e. ``solve_problem``) gives the
    optbench row of seed s with the same steps and tol (``sgd`` at full batch is ``gd``)."""
    c = MSE
    argv = ["solve", "--K", str(c.K), "--n", str(c.n), "--d", str(c.d), "--lambda-W", str(c.lambda_W),
            "--lambda-H", str(c.lambda_H), "--lambda-b", str(c.lambda_b), "--x64", "--json", "--optimizer", "gd",
            "--lr", "0.2", "--steps", str(c.steps), "--tol", str(c.tol), "--seed", "2"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    row = next(r for r in _rows(os.path.join(mse_dir, "seeds.csv")) if r["optimizer"] == "sgd" and r["seed"] == "2")
    assert out["steps"] == int(row["steps_taken"])
    # Tolerances and reasons as in test_rows_match_single_solve_runs; the gap is a difference
    # of nearly equal numbers, hence absolute.
    assert out["objective"] == pytest.approx(float(row["value"]), rel=1e-12)
    assert out["gap"] == pytest.approx(float(row["gap"]), abs=1e-13)
    for k in ("nc1", "nc2", "nc3", "nc4"):
        assert out[k] == pytest.approx(float(row[k]), rel=1e-8, abs=1e-12)


@pytest.mark.slow
def test_records_are_complete_and_monotone_in_time(mse_dir):
    cols, meta = read_optimizer_file(os.path.join(mse_dir, "momentum.parquet"))
    a = per_seed(cols)
    np.testing.assert_array_equal(a["step"][:, 0], [0, 10, 20, 30, 40, 45])
    assert np.all(np.diff(a["time_s"][:, 0]) > 0) and a["time_s"][0, 0] == 0
    assert meta["dtype"] == "float64" and meta["compile_s"] > 0 and meta["steps_run"] == 45
    # Step 0 is the seed's initial point, the same for every optimiser (bit for bit).
    first = per_seed(read_optimizer_file(os.path.join(mse_dir, "lbfgs.parquet"))[0])
    np.testing.assert_array_equal(a["value"][0], first["value"][0])
    assert len(set(a["value"][0])) == MSE.seeds  # and different across seeds


# --------------------------------------------------------------------------- minibatch SGD


def _random_params(prob, seed):
    """Any point will do for the gradient identities: plain normals (cheaper than init_params)."""
    kW, kH, kb = jax.random.split(jax.random.PRNGKey(seed), 3)
    from nclandscape.ufm import Params

    return Params(jax.random.normal(kW, (prob.K, prob.d)), jax.random.normal(kH, (prob.d, prob.N)),
                  jax.random.normal(kb, (prob.K,)))


@pytest.mark.parametrize("loss", ["mse", "rescaled_mse", "ce"])
def test_minibatch_objective_full_batch_is_the_objective(loss):
    cfg = BenchConfig(K=3, n=4, d=3, loss=loss, alpha=2.0, M=3.0)
    prob = cfg.problem()
    data, hp = prob.data(dtype=jnp.float64), prob.hparams(dtype=jnp.float64)
    p = _random_params(prob, 3)
    full = jax.jit(objective_for(loss))(p, data, hp)
    mb = jax.jit(minibatch_objective(loss))(p, data, hp, jnp.ones(prob.N))
    assert float(mb) == pytest.approx(float(full), rel=1e-15)  # the same sums in the same order


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_minibatch_gradients_average_to_the_full_gradient(loss):
    """An epoch's batches partition the samples; with B | N the mean minibatch gradient is ∇f."""
    cfg = BenchConfig(K=3, n=4, d=3, loss=loss)
    prob = cfg.problem()
    data, hp = prob.data(dtype=jnp.float64), prob.hparams(dtype=jnp.float64)
    p = _random_params(prob, 0)
    key = batch_key(jax.random.PRNGKey(0))
    B, N = 4, prob.N
    spe = steps_per_epoch(N, B)
    masks = jax.jit(jax.vmap(lambda t: minibatch_mask(key, t, num_samples=N, batch_size=B, dtype=jnp.float64)))(jnp.arange(2 * spe))
    for e in range(2):
        ep = np.asarray(masks[e * spe:(e + 1) * spe])
        np.testing.assert_array_equal(ep.sum(axis=0), np.ones(N))  # every sample exactly once
        np.testing.assert_array_equal(ep.sum(axis=1), np.full(spe, B))
    assert not np.array_equal(masks[:spe], masks[spe:])  # a fresh shuffle each epoch
    g = jax.jit(jax.vmap(jax.grad(minibatch_objective(loss)), in_axes=(None, None, None, 0)))(p, data, hp, masks[:spe])
    g_full = jax.jit(jax.grad(objective_for(loss)))(p, data, hp)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(g_full)):
        # 1e-13: the same per-sample gradients summed in a different order.
        np.testing.assert_allclose(np.asarray(a).mean(axis=0), np.asarray(b), rtol=1e-13, atol=1e-15)


def test_minibatch_last_batch_is_the_remainder():
    key = jax.random.PRNGKey(1)
    m = np.stack([np.asarray(minibatch_mask(key, t, num_samples=10, batch_size=4)) for t in range(3)])
    np.testing.assert_array_equal(m.sum(axis=1), [4, 4, 2])
    np.testing.assert_array_equal(m.sum(axis=0), np.ones(10))


@pytest.mark.slow
def test_minibatch_sgd_matches_a_plain_loop():
    """Minibatch `sgd` rows equal a Python loop of W -= lr ∇f_B with f_B written out by hand."""
    # The shape of MSE (compiled programs are shared); batch 5 does not divide N = 12.
    cfg = BenchConfig(K=MSE.K, n=MSE.n, d=MSE.d, lambda_W=1e-2, lambda_H=2e-2, lambda_b=1e-2, seeds=3, steps=13,
                      record_every=5, optimizers=("sgd",), batch_size=5, sgd_lr=0.3, x64=True)
    cols, meta = run_optimizer(cfg, "sgd")
    assert meta["minibatch"] and meta["batch_size"] == 5
    a = per_seed(cols)
    prob = cfg.problem()
    data, hp = prob.data(dtype=jnp.float64), prob.hparams(dtype=jnp.float64)
    Y = np.asarray(data.Y)

    def f_B(p, mask):  # 1/|B| Σ_{i∈B} ½‖W h_i + b − y_i‖² + full weight decay
        R = p.W @ p.H + p.b[:, None] - Y
        return 0.5 * jnp.sum(jnp.sum(R**2, axis=0) * mask) / jnp.sum(mask) + 0.5 * (
            1e-2 * jnp.sum(p.W**2) + 2e-2 * jnp.sum(p.H**2) + 1e-2 * jnp.sum(p.b**2))

    grad = jax.jit(jax.grad(f_B))
    full = jax.jit(objective_for("mse"))
    mask_of = jax.jit(lambda k, t: minibatch_mask(k, t, num_samples=prob.N, batch_size=5, dtype=jnp.float64))
    init = jax.jit(init_params)
    for s in range(3):
        key = jax.random.PRNGKey(s)
        p = init(key, data)
        vals = [float(full(p, data, hp))]
        for t in range(cfg.steps):
            mask = mask_of(batch_key(key), t)
            p = jax.tree_util.tree_map(lambda x, g: x - 0.3 * g, p, grad(p, mask))
            if (t + 1) % 5 == 0 or t + 1 == cfg.steps:
                vals.append(float(full(p, data, hp)))
        # 1e-12: the same arithmetic up to operation order, over 13 steps.
        np.testing.assert_allclose(a["value"][:, s], vals, rtol=1e-12)
    np.testing.assert_array_equal(a["steps_taken"][-1], [13, 13, 13])  # minibatch SGD never stops early


# --------------------------------------------------------------------------- L-BFGS accuracy


def _random_mse_configs(seed=11):
    """Random vanilla-MSE problems, 3 seeds each: K=4, n=3 with d = 5 >= K (three draws; the
    shape of MSE, so the compiled programs are shared) and d = 2 < K - 1 (one draw); λ
    log-uniform in [1e-3, 0.1], bias on/off at random."""
    rng = np.random.default_rng(seed)
    out = []
    for d in (5, 5, 5, 2):
        lw, lh, lb = np.exp(rng.uniform(np.log(1e-3), np.log(0.1), size=3))
        out.append(BenchConfig(K=4, n=3, d=d, lambda_W=float(lw), lambda_H=float(lh), lambda_b=float(lb),
                               bias=bool(rng.integers(0, 2)), seeds=3, steps=400, record_every=400,
                               optimizers=("lbfgs",), x64=True))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cfg", _random_mse_configs(), ids=lambda c: f"d{c.d}-lW{c.lambda_W:.1e}{'' if c.bias else '-nobias'}")
def test_lbfgs_float64_reaches_gap_1e_8(cfg):
    cols, _ = run_optimizer(cfg, "lbfgs")
    a = per_seed(cols)
    g = mse_global_min(cfg.K, cfg.n, cfg.d, cfg.lambda_W, cfg.lambda_H, cfg.lambda_b, bias=cfg.bias)
    gap = a["value"][-1] - g.f_star
    assert np.all(np.abs(gap) <= 1e-8), gap  # the target accuracy (measured: <= 1e-15)


# --------------------------------------------------------------------------- summary definitions


def test_quantile_and_first_reach_exact():
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert quantile([1.0, np.inf, 2.0], 0.5) == 2.0
    assert quantile([1.0, np.inf, np.inf, 2.0], 0.5) == np.inf
    assert quantile([1.0, 2.0, 3.0, np.inf], 0.25) == 1.75
    gap = np.array([[1.0, 1.0, 1.0], [1e-4, 1e-2, 1.0], [1e-7, 1e-4, np.nan]])
    steps = np.array([[0, 0, 0], [10, 10, 10], [20, 17, 20]])
    np.testing.assert_array_equal(first_reach(gap, steps, 1e-3), [10, 17, np.inf])
    np.testing.assert_array_equal(first_reach(gap, steps, 1e-6), [20, np.inf, np.inf])


def test_f_star_without_theory_is_the_best_value_found():
    """Rescaled MSE / unbalanced classes have no closed form: f* = best final value in the folder."""
    cols = {"seed": np.array([0, 1, 0, 1]), "value": np.array([5.0, 4.0, 2.0, np.nan]), "optimizer": np.array(["a"] * 4)}
    cols2 = {"seed": np.array([0, 1]), "value": np.array([3.0, 2.5]), "optimizer": np.array(["b"] * 2)}
    assert resolve_f_star({"f_star": None}, {"a": (cols, {}), "b": (cols2, {})}) == (2.0, "best_found")
    assert resolve_f_star({"f_star": 1.5, "f_star_source": "theory"}, {}) == (1.5, "theory")


@pytest.mark.slow
def test_summary_thresholds_from_records(mse_dir):
    s = summarize(mse_dir)
    row = next(r for r in s["rows"] if r["optimizer"] == "lbfgs")
    cols, _ = read_optimizer_file(os.path.join(mse_dir, "lbfgs.parquet"))
    a = per_seed(cols)
    gap = a["value"] - s["f_star"]
    for t in MSE.thresholds:
        it = first_reach(gap, a["steps_taken"], t)
        assert row[f"iters_gap_{t:.0e}_median"] == np.median(it)
        assert row[f"reached_gap_{t:.0e}"] == np.isfinite(it).sum()
    assert s["f_star_source"] == "theory"
    md = open(os.path.join(mse_dir, "summary.md")).read()
    assert md.count("\n| ") == 1 + len(MSE.optimizers)  # header + one row per optimiser


# --------------------------------------------------------------------------- files, resume, CLI


def test_resume_runs_only_missing_optimizers(tmp_path):
    out = str(tmp_path)
    cfg = BenchConfig(K=MSE.K, n=MSE.n, d=MSE.d, seeds=3, steps=6, record_every=3, optimizers=("gd",), x64=True,
                      no_plots=True)
    assert run_benchmark(cfg, out)["ran"] == ["gd"]
    path = os.path.join(out, "gd.parquet")
    before = open(path, "rb").read()
    open(os.path.join(out, "adam.parquet.tmp-1"), "w").write("partial write of an interrupted run")
    cfg2 = BenchConfig(**{**cfg.__dict__, "optimizers": ("gd", "adam")})
    res = run_benchmark(cfg2, out)
    assert res["ran"] == ["adam"] and res["reused"] == ["gd"]
    assert open(path, "rb").read() == before
    assert not os.path.exists(os.path.join(out, "adam.parquet.tmp-1"))  # the stale partial file is gone
    assert {r["optimizer"] for r in res["summary"]["rows"]} == {"gd", "adam"}
    other = BenchConfig(**{**cfg.__dict__, "steps": 9})
    with pytest.raises(ConfigError, match="steps"):
        run_benchmark(other, out)
    assert run_benchmark(other, out, overwrite=True)["ran"] == ["gd"]
    assert not os.path.exists(os.path.join(out, "adam.parquet"))


@pytest.mark.slow
def test_cli_writes_tables_and_plots_and_replot_reads_files(tmp_path, capsys):
    out = str(tmp_path / "bench")
    argv = ["optbench", "--K", str(MSE.K), "--n", str(MSE.n), "--d", str(MSE.d), "--optimizers", "sgd,adam",
            "--batch-size", "5", "--seeds", "3", "--steps", "20", "--records-per-decade", "4", "--x64", "--out", out]
    assert cli.main(argv) == 0
    capsys.readouterr()
    # --json on the finished folder: nothing re-run, valid JSON ("never" reached is null).
    assert cli.main(argv + ["--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["ran"] == [] and js["reused"] == ["sgd", "adam"] and js["f_star_source"] == "theory"
    for f in ("config.json", "sgd.parquet", "adam.parquet", "summary.md", "summary.csv", "seeds.csv",
              "curves_vs_iteration.png", "curves_vs_time.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["f_star_source"] == "theory" and cfg["config"]["batch_size"] == 5
    steps = per_seed(read_optimizer_file(os.path.join(out, "sgd.parquet"))[0])["step"][:, 0]
    np.testing.assert_array_equal(steps, [0, 1, 2, 3, 6, 10, 18, 20])  # round(10^(i/4)) and the last step
    table = open(os.path.join(out, "summary.csv")).read()
    for f in ("summary.md", "summary.csv", "curves_vs_iteration.png", "curves_vs_time.png"):
        os.remove(os.path.join(out, f))
    capsys.readouterr()
    assert cli.main(["optbench-plot", out]) == 0
    assert open(os.path.join(out, "summary.csv")).read() == table
    assert os.path.getsize(os.path.join(out, "curves_vs_time.png")) > 0
    assert "| adam |" in capsys.readouterr().out


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert cli.main(["optbench", "--optimizers", "sgd,rmsprop", "--out", str(tmp_path)]) == 2
    assert "rmsprop" in capsys.readouterr().err
    assert cli.main(["optbench", "--lr", "adam", "--out", str(tmp_path)]) == 2
    assert cli.main(["optbench-plot", str(tmp_path / "nothing")]) == 2


@pytest.mark.slow
def test_float32_stays_float32():
    cfg = BenchConfig(K=MSE.K, n=MSE.n, d=MSE.d, seeds=3, steps=4, record_every=2, optimizers=("gd",))
    assert bench_dtype(cfg) == jnp.float32 and tol_of(cfg, jnp.float32) == DEFAULT_TOL["float32"]
    cols, meta = run_optimizer(cfg, "gd")
    assert meta["dtype"] == "float32"
    prob = cfg.problem()
    data, hp = prob.data(dtype=jnp.float32), prob.hparams(dtype=jnp.float32)
    v0 = jax.jit(lambda k: objective_for("mse")(init_params(k, data), data, hp))(jax.random.PRNGKey(1))
    assert v0.dtype == jnp.float32
    # The float32 run's step-0 record is the float32 objective at the float32 init (a float64
    # run would differ from it by ~1e-7 relative, more than this 1e-12 test allows).
    assert per_seed(cols)["value"][0, 1] == pytest.approx(float(v0), rel=1e-12)


def _doc_commands(prefix):
    """Commands of docs/optbench.md starting with ``$ <prefix>`` (continuation lines joined)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = open(os.path.join(root, "docs", "optbench.md")).read().splitlines()
    cmds, i = [], 0
    while i < len(lines):
        if lines[i].startswith("$ " + prefix):
            cmd = lines[i][2:]
            while cmd.endswith("\\"):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            cmds.append(cmd.split())
        i += 1
    return cmds


@pytest.mark.slow
def test_docs_example_runs_and_prints_the_documented_table(tmp_path, capsys):
    """The README section's first optbench command, at tiny size (docs run as code)."""
    cmd = _doc_commands("nclandscape optbench")[0]
    argv = cmd[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "demo")
    assert cli.main(argv + ["--seeds", "3", "--steps", "30", "--no-plots"]) == 0
    out = capsys.readouterr().out
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    doc = open(os.path.join(root, "docs", "optbench.md")).read()
    header = next(line for line in out.splitlines() if line.startswith("| optimizer"))
    assert header in doc  # the documented table has the columns the command prints
    assert [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")][1:] == \
        ["sgd", "momentum", "adam", "lbfgs"]
