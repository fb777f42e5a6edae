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

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments" / "resnet").glob("*.py"))


def _records(d):
    return [json.loads(l) for l in (Path(d) / "metrics.jsonl").read_text().splitlines()]


def test_configs_found_and_documented():
    names = {p.stem for p in CONFIGS}
    assert {"losses", "etf", "feature_dim", "optimizers"} <= names
    for p in CONFIGS:
        doc = p.read_text()
        assert f"nclandscape train experiments/resnet/{p.name}" in doc  # the command
        assert "Expect" in doc and "Time" in doc


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
            # numerical rank of class-k features is at most min(d, n_k)
            d_feat = cfg.feature_dim or 8 * cfg.width
            assert 1 - 1e-4 <= x["numerical_rank"] <= min(d_feat, 16) + 1e-3
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
    # the lead's `nclandscape plot DIR` contract: DIR of a config is a training run (folder)
    assert is_training_run(out)
    again = plot_run([out], tmp_path / "fig.png")
    assert [p.name for p in again] == ["fig.png", "fig.pdf"] and again[0].stat().st_size > 10_000
    png = out / "nc_curves.png"
    assert png.exists() and png.stat().st_size > 10_000 and (out / "nc_curves.pdf").exists()
    printed = capsys.readouterr().out
    assert "wrote" in printed and "NC1" in printed
    # runs differing in the compared setting give different numbers
    finals = [json.dumps({k: v for k, v in rs[-1].items() if k not in ("wall_s", "images_per_s")})
              for rs in recs.values()]
    assert len(set(finals)) == len(finals)


def test_plot_run_paths(tmp_path):
    from nclandscape.errors import ConfigError

    with pytest.raises(ConfigError, match="not a training run"):
        plot_run([tmp_path], tmp_path / "fig")
    assert not is_training_run(tmp_path)
