"""The central-path experiments' tiny variants run and write what their docstrings promise."""
import json

import numpy as np
import pytest

import experiments

UFM_PERP = "experiments/central_path/ufm_perp.py"
FLOWS = "experiments/central_path/flows.py"
RESNET_MSE = "experiments/central_path/resnet_mse.py"


@pytest.mark.slow
def test_ufm_perp_tiny(tmp_path, capsys):
    from experiments.central_path.runner import record_steps

    assert experiments.main([UFM_PERP, "--tiny", "--out", str(tmp_path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "traces.jsonl").read_text().splitlines()]
    _, cfg = experiments.load(UFM_PERP, tiny=True)
    assert len(rows) == len(cfg["lambdas"]) * len(cfg["lrs"]) * cfg["seeds"] * len(record_steps(cfg["steps"], cfg["records"]))
    # The identity holds on every record (1e-10: f down to ~1e-5 against O(1) entries).
    assert max(r["identity_rel_err"] for r in rows) <= 1e-10
    # A random classifier is far from least-squares at step 0; GD at λ > 0 brings it closer.
    first = [r["perp_over_f"] for r in rows if r["step"] == 0]
    last = [r["perp_over_f"] for r in rows if r["step"] == cfg["steps"] and r["lambda"] > 0 and r["lr"] == 0.5]
    assert min(first) > 0.5 and max(last) < 0.01
    assert (tmp_path / "ufm_perp.png").stat().st_size > 10_000 and "L⊥/f @ 0" in (tmp_path / "table.md").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["steps"] == cfg["steps"]


@pytest.mark.slow
def test_flows_tiny(tmp_path, capsys):
    assert experiments.main([FLOWS, "--tiny", "--out", str(tmp_path)]) == 0
    _, cfg = experiments.load(FLOWS, tiny=True)
    assert json.loads((tmp_path / "config.json").read_text()) == cfg
    for kind in cfg["flows"]:
        r = json.loads((tmp_path / f"{kind}_K3.json").read_text())
        om = np.asarray(r["omega"])
        assert r["max_rel_err"] <= 1e-8 and np.min(om[-1] / om[0]) > 3
    assert (tmp_path / "flows.png").stat().st_size > 10_000


def test_resnet_cpu_variant_is_the_recorded_run():
    """``--cpu`` reproduces the settings of the run in results/resnet_mse_cpu/ (recorded before
    the config had ``feature_layer`` and ``min_lr``, whose defaults it ran with)."""
    from pathlib import Path

    from nclandscape.nets.config import dumps, load_config_file

    _, runs = load_config_file(RESNET_MSE, cpu=True)
    now = json.loads(dumps(runs[""]))
    recorded = json.loads((Path(RESNET_MSE).parent / "results" / "resnet_mse_cpu" / "config.json").read_text())
    assert {k: v for k, v in now.items() if k not in ("feature_layer", "min_lr")} == recorded
    assert (now["feature_layer"], now["min_lr"]) == ("linear", 0.0)


@pytest.mark.slow
def test_resnet_tiny_records_terms_and_plot(tmp_path, capsys):
    from experiments.central_path import runner
    from nclandscape.cli import main

    assert main(["train", RESNET_MSE, "--tiny", "--out", str(tmp_path), "--no-plot"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for r in recs:
        # f = eval-mode train MSE + (λ/2)(||W||² + ||b||²); the classifier norm is logged, b is not.
        assert r["L_total"] >= r["train_eval_loss"] and r["L_features"] == 0.0
        assert r["L_total"] == pytest.approx(sum(r[k] for k in ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp")),
                                             rel=1e-12)
    assert runner.main(["terms", str(tmp_path)]) == 0
    assert (tmp_path / "central_path_terms.png").stat().st_size > 10_000
    assert "| epoch | train acc |" in capsys.readouterr().out
    out = runner.bn_check(str(tmp_path))
    assert set(out) == {"eval", "train"}
    saved = json.loads((tmp_path / "bn_check.json").read_text())
    assert saved["epoch"] == recs[-1]["epoch"] and saved["eval"]["L_perp"] == out["eval"]["L_perp"]
