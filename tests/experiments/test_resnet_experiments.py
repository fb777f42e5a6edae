"""Every experiment config's tiny variant runs end to end through ``nclandscape train``.

The runs go through the CLI in-process (compiled programs are shared between runs that differ
only in loss hyper-parameters), two epochs each, and the figure is drawn from the files.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from nclandscape import cli
from nclandscape.nets.config import load_config_file
from nclandscape.nets.plots import is_training_run, plot_run

# every figure config (the folder also holds runner.py, run_cpu.sh and results/)
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "experiments" / "resnet").glob("fig*.py"))


def _records(d):
    return [json.loads(l) for l in (Path(d) / "metrics.jsonl").read_text().splitlines()]


def test_configs_found_and_documented():
    names = {p.stem for p in CONFIGS}
    assert names == {"fig3_optimizers", "fig4_feature_dim", "fig5_fixed_etf", "fig6_rescaled",
                     "fig7_d3_features"}
    for p in CONFIGS:
        doc = p.read_text()
        assert f"nclandscape train experiments/resnet/{p.name}" in doc  # the command
        assert "Expect" in doc and "Time" in doc and "CPU:" in doc and "Ours" in doc
        assert f"nclandscape train experiments/resnet/{p.name} --cpu" in doc


@pytest.mark.slow  # 30-200 s each on a 2-core CPU (2-4 runs, each compiled)
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_tiny_variant_runs(path, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(["train", str(path), "--tiny", "--out", str(out), "--set", "epochs=2"])
    assert rc == 0
    _, runs = load_config_file(path, tiny=True)
    dirs = [out / name if name else out for name in runs]
    recs = {d.name: _records(d) for d in dirs}
    for d, (name, cfg) in zip(dirs, runs.items()):
        assert is_training_run(d)
        r = recs[d.name]
        assert [x["epoch"] for x in r] == [1, 2]
        for x in r:
            for k in ("nc1", "nc2", "nc3", "nc4", "numerical_rank", "train_acc", "test_acc"):
                assert np.isfinite(x[k]), (name, k)
            assert 0 <= x["nc4"] <= 1 and 0 <= x["train_acc"] <= 1
            q = x["cos_margin_quantiles"]
            assert q == sorted(q) and -2 <= q[0] <= q[-1] <= 2  # cosine differences
            # numerical rank of class-k features is at most min(d, n_k); 0 when a class's
            # features are all 0 (possible for d = 2 post-ReLU channels of the last block)
            d_feat = cfg.feature_dim or 8 * cfg.width
            assert x["trainable_params"] > 0
            assert 0 <= x["numerical_rank"] <= min(d_feat, 16) + 1e-3
        if cfg.fixed_etf:
            # W is an exact simplex ETF: NC2 is float32 rounding away from 0
            assert all(x["nc2"] < 1e-5 for x in r), name
        else:
            assert r[-1]["nc2"] > 1e-3
    # each train step compiled exactly once (no retrace from weakly typed initial state)
    from nclandscape.nets import runner

    for cfg in runs.values():
        key = runner._program_key(cfg)
        n = cfg.tiny_train_per_class * cfg.tiny_classes
        step = runner._step_programs(key, n // cfg.batch_size, cfg.tiny_classes, (0.5,) * 3,
                                     (0.25,) * 3, (8, 8, 3))[2]
        assert step._cache_size() == 1, cfg.optimizer
    # the `nclandscape plot DIR` contract: DIR of a config is a training run (folder)
    assert is_training_run(out)
    again = plot_run([out], tmp_path / "fig.png")
    assert [p.name for p in again] == ["fig.png", "fig.pdf"] and again[0].stat().st_size > 10_000
    png = out / "nc_curves.png"
    assert png.exists() and png.stat().st_size > 10_000 and (out / "nc_curves.pdf").exists()
    printed = capsys.readouterr().out
    assert "wrote" in printed and "NC1" in printed
    if path.stem == "fig7_d3_features":  # the 3-D scatter, from features_3d.npz of each run
        assert (out / "features_3d.png").stat().st_size > 10_000
        for d in dirs:
            z = np.load(d / "features_3d.npz")
            assert z["features"].shape == (4 * 16, 3) and float(z["features"].min()) >= 0
            assert np.bincount(z["labels"]).tolist() == [16] * 4  # min(100, 16) per class
    if path.stem == "fig6_rescaled":  # the paper's two rows as their own figures
        assert (out / "alpha_row.png").exists() and (out / "M_row.png").exists()
    if path.stem == "fig5_fixed_etf":  # fixing W and d = K cut the trainable parameters
        n = {d.name: recs[d.name][0]["trainable_params"] for d in dirs}
        K, w = 4, 4
        assert n["learned"] - n["fixed_etf"] == K * 8 * w  # W (K x d); the bias stays trainable
        assert n["fixed_etf_dK"] < n["learned_dK"] < n["learned"]
        assert n["learned_dK"] - n["fixed_etf_dK"] == K * K
    # runs differing in the compared setting give different numbers
    finals = [json.dumps({k: v for k, v in rs[-1].items() if k not in ("wall_s", "images_per_s")})
              for rs in recs.values()]
    assert len(set(finals)) == len(finals)


def test_plot_run_paths(tmp_path):
    from nclandscape.errors import ConfigError

    with pytest.raises(ConfigError, match="not a training run"):
        plot_run([tmp_path], tmp_path / "fig")
    assert not is_training_run(tmp_path)


@pytest.mark.slow
def test_cpu_variants_are_real_cifar_and_sized_for_a_cpu():
    from nclandscape.errors import ConfigError
    from nclandscape.nets.config import CPU

    for p in CONFIGS:
        base, runs = load_config_file(p, cpu=True)
        full = load_config_file(p)[1]
        assert set(runs) <= set(full) or p.stem in ("fig4_feature_dim", "fig6_rescaled")
        for name, cfg in runs.items():
            assert cfg.data == "cifar10_npz" and cfg.train_per_class == CPU["train_per_class"]
            assert cfg.width == CPU["width"] and not cfg.augment
            assert cfg.epochs <= 40
    full = load_config_file(CONFIGS[0])[1]
    assert full["lbfgs"].lr == 0.01 and full["lbfgs"].lbfgs_linesearch == "zoom"
    assert not full["sgd"].augment and full["sgd"].lr == 0.05 and full["adam"].lr == 1e-3
    fig6 = load_config_file([p for p in CONFIGS if p.stem == "fig6_rescaled"][0])[1]
    assert {(c.alpha, c.M) for c in fig6.values()} == {(1, 1), (5, 1), (15, 1), (20, 1), (1, 3),
                                                       (1, 5), (1, 7), (1, 10)}
    c = fig6["alpha1_M1"]
    assert (c.lr, c.weight_decay, c.schedule, c.restart_epochs, c.min_lr) == (
        0.01, 1e-3, "cosine_restarts", 200, 1e-4)
    with pytest.raises(ConfigError, match="choose one size"):
        load_config_file(CONFIGS[0], tiny=True, cpu=True)


def test_cpu_summary_is_read_from_the_committed_files(tmp_path, capsys):
    """``python -m experiments.resnet.runner summarize`` rebuilds results/summary_cpu.md (the
    tables experiments/RESULTS.md quotes) from the committed results/<fig>_cpu/ files."""
    import shutil

    from experiments.resnet import runner

    results = CONFIGS[0].parent / "results"
    shutil.copytree(results, tmp_path / "results")
    (tmp_path / "results" / "summary_cpu.md").unlink()
    assert runner.main(["summarize", str(tmp_path / "results")]) == 0
    assert (tmp_path / "results" / "summary_cpu.md").read_text() == (results / "summary_cpu.md").read_text()
    assert {p.name for p in results.iterdir() if p.is_dir()} == {f"{p.stem}_cpu" for p in CONFIGS}
