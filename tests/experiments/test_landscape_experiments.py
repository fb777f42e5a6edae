"""The landscape experiments run end to end at their tiny size and write their files."""
import json

import numpy as np
import pytest

import experiments
from nclandscape.configs import load_config_module

FIG2 = "experiments/landscape/fig2.py"
FIG8 = "experiments/landscape/fig8.py"
RATIO_TABLE = "experiments/landscape/ratio_table.py"
SLICES = "experiments/landscape/slices.py"


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_fig2_fig8_tiny(tmp_path):
    for path, name in ((FIG2, "fig2"), (FIG8, "fig8")):
        out = tmp_path / name
        png = experiments.run(path, tiny=True, out=out)
        assert (out / f"{name}.png").stat().st_size > 1000 and png.endswith(f"{name}.png")
        assert (out / f"{name}_plane.png").stat().st_size > 1000
        full = load_config_module(path).get_config()
        assert json.loads((out / "config.json").read_text())["panels"] == full["panels"]  # tiny: same panels
        assert len(_lines(out / "summary.jsonl")) == len(full["panels"])
        z = np.load(out / "grids.npz")
        assert z["0_loss"].shape == (5, 7)
        assert np.allclose(z["0_theta"], np.linspace(0, np.pi, 7))  # θ = arccos<h, w^k> in [0, π]
    # Fig. 2: the paper's panels (a) MSE, (b) CE, (c), (d) rescaled MSE, all at K = 10
    assert [p["loss"] for p in load_config_module(FIG2).get_config()["panels"]] == [
        "mse", "ce", "rescaled_mse", "rescaled_mse"]
    rows = _lines(tmp_path / "fig2" / "summary.jsonl")
    # (d) alpha = 1, M = 5 dilates (a) by M: same minimiser angle, s* scaled by 5, value by 25
    assert rows[0]["theta_at_min"] == rows[3]["theta_at_min"] == 0.0
    assert abs(rows[3]["s_at_min"] - 5 * rows[0]["s_at_min"]) < 1e-12
    assert abs(rows[3]["grid_min"] - 25 * rows[0]["grid_min"]) < 1e-9
    # Fig. 8: the K -> inf closed forms; MSE minimum 0 at (s, θ) = (M, 0); (f) = (b) - (e)
    rows = _lines(tmp_path / "fig8" / "summary.jsonl")
    assert rows[0]["grid_min"] == 0.0 and rows[0]["s_at_min"] == 1.0 and rows[0]["theta_at_min"] == 0.0
    assert rows[3]["grid_min"] == 0.0 and rows[3]["s_at_min"] == 5.0
    z = np.load(tmp_path / "fig8" / "grids.npz")
    S, T = np.meshgrid(z["5_s"], z["5_theta"], indexing="ij")
    np.testing.assert_allclose(z["5_loss"], np.logaddexp(S * np.cos(T), S * np.sin(T)), rtol=1e-6, atol=1e-6)
    # unit arrows: a config key, set from the command line like any other
    assert experiments.main([FIG8, "--tiny", "--set", "arrows=unit", "--out", str(tmp_path / "unit")]) == 0
    assert json.loads((tmp_path / "unit" / "config.json").read_text())["arrows"] == "unit"
    assert (tmp_path / "unit" / "fig8.png").stat().st_size > 1000


@pytest.mark.slow
def test_ratio_table_tiny(tmp_path):
    rows = experiments.run(RATIO_TABLE, tiny=True, out=tmp_path)
    assert (tmp_path / "table.md").exists() and len(_lines(tmp_path / "table.jsonl")) == len(rows) == 3
    r = {(x["loss"], str(x["K"]), x["alpha"], x["M"]): x for x in rows}
    # K → ∞, α = M = 1: s* = M, κ_r = α, κ_t = 1 (exact: f = ½(x − 1)² + ½y²).
    x = r[("rescaled_mse", "inf", 1.0, 1.0)]
    assert abs(x["s_star"] - 1) < 1e-12 and abs(x["kappa_r"] - 1) < 1e-12 and abs(x["kappa_t"] - 1) < 1e-12
    x = r[("rescaled_mse", "inf", 2.0, 2.0)]  # κ_r = α, κ_t = 1, s* = M
    assert abs(x["s_star"] - 2) < 1e-12 and abs(x["kappa_r"] - 2) < 1e-12 and abs(x["kappa_t"] - 1) < 1e-12


@pytest.mark.slow
def test_slices_tiny(tmp_path):
    experiments.run(SLICES, tiny=True, out=tmp_path)
    r = json.loads((tmp_path / "slices.json").read_text())
    # The tiny variant goes through S = {0} (a strict saddle) and S = {0, 1, 2, 3} (global, K = 4).
    assert [c["S"] for c in r["d"]] == [[0], [0, 1, 2, 3]]
    saddle, glob = r["d"]
    assert not saddle["is_global"] and glob["is_global"] and glob["predicted_min_eig"] is None
    # dense eigh vs THEORY.md §3's closed form (1e-12: a 50-parameter float64 eigh), and the
    # value experiments/RESULTS.md records for every non-global point of this problem.
    assert abs(saddle["eigenvalue"] - saddle["predicted_min_eig"]) < 1e-12
    assert saddle["predicted_min_eig"] == pytest.approx(-0.1667766953, abs=1e-10)
    assert (tmp_path / "slices.png").stat().st_size > 1000
