"""The central-path experiments' tiny variants run and write what their docstrings promise."""
import json

import numpy as np
import pytest


@pytest.mark.slow
def test_ufm_perp_tiny(tmp_path, capsys):
    from experiments.central_path import ufm_perp

    assert ufm_perp.main(["--tiny", "--out", str(tmp_path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "traces.jsonl").read_text().splitlines()]
    cfg = ufm_perp.TINY
    assert len(rows) == len(cfg["lambdas"]) * len(cfg["lrs"]) * cfg["seeds"] * len(ufm_perp.record_steps(cfg["steps"], cfg["records"]))
    # The identity holds on every record (1e-10: f down to ~1e-5 against O(1) entries).
    assert max(r["identity_rel_err"] for r in rows) <= 1e-10
    # A random classifier is far from least-squares at step 0; GD at λ > 0 brings it closer.
    first = [r["perp_over_f"] for r in rows if r["step"] == 0]
    last = [r["perp_over_f"] for r in rows if r["step"] == cfg["steps"] and r["lambda"] > 0 and r["lr"] == 0.5]
    assert min(first) > 0.5 and max(last) < 0.01
    assert (tmp_path / "ufm_perp.png").stat().st_size > 10_000 and "L⊥/f @ 0" in (tmp_path / "table.md").read_text()


@pytest.mark.slow
def test_flows_tiny(tmp_path, capsys):
    from experiments.central_path import flows

    assert flows.main(["--tiny", "--out", str(tmp_path)]) == 0
    for kind in flows.FLOWS:
        r = json.loads((tmp_path / f"{kind}_K3.json").read_text())
        om = np.asarray(r["omega"])
        assert r["max_rel_err"] <= 1e-8 and np.min(om[-1] / om[0]) > 3
    assert (tmp_path / "flows.png").stat().st_size > 10_000


@pytest.mark.slow
def test_resnet_tiny_records_terms_and_plot(tmp_path, capsys):
    from experiments.central_path import plot_resnet
    from nclandscape.cli import main

    assert main(["train", "experiments/central_path/resnet_mse.py", "--tiny", "--out", str(tmp_path), "--no-plot"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for r in recs:
        # f = eval-mode train MSE + (λ/2)(||W||² + ||b||²); the classifier norm is logged, b is not.
        assert r["L_total"] >= r["train_eval_loss"] and r["L_features"] == 0.0
        assert r["L_total"] == pytest.approx(sum(r[k] for k in ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp")),
                                             rel=1e-12)
    assert plot_resnet.main([str(tmp_path)]) == 0
    assert (tmp_path / "central_path_terms.png").stat().st_size > 10_000
