"""The landscape experiments run end to end at their tiny size and write their files."""
import json
import sys
from pathlib import Path

import numpy as np

# The experiments are scripts under the repository root (not part of the installed package):
# make them importable however pytest is started.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def test_fig2_fig8_tiny(tmp_path):
    from experiments.landscape import fig2, fig8

    for mod, name in ((fig2, "fig2"), (fig8, "fig8")):
        out = tmp_path / name
        png = mod.main(["--tiny", "--out", str(out)])
        assert (out / f"{name}.png").stat().st_size > 1000 and png.endswith(f"{name}.png")
        assert (out / f"{name}_plane.png").stat().st_size > 1000
        rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
        assert len(rows) == len(mod.CONFIG["panels"])
        z = np.load(out / "grids.npz")
        assert z["0_loss"].shape == (5, 7)
        assert np.allclose(z["0_theta"], np.linspace(0, np.pi, 7))  # θ = arccos<h, w^k> in [0, π]
    # Fig. 2: the paper's panels (a) MSE, (b) CE, (c), (d) rescaled MSE, all at K = 10
    assert [p["loss"] for p in fig2.CONFIG["panels"]] == ["mse", "ce", "rescaled_mse", "rescaled_mse"]
    rows = [json.loads(line) for line in (tmp_path / "fig2" / "summary.jsonl").read_text().splitlines()]
    # (d) alpha = 1, M = 5 dilates (a) by M: same minimiser angle, s* scaled by 5, value by 25
    assert rows[0]["theta_at_min"] == rows[3]["theta_at_min"] == 0.0
    assert abs(rows[3]["s_at_min"] - 5 * rows[0]["s_at_min"]) < 1e-12
    assert abs(rows[3]["grid_min"] - 25 * rows[0]["grid_min"]) < 1e-9
    # Fig. 8: the K -> inf closed forms; MSE minimum 0 at (s, θ) = (M, 0); (f) = (b) - (e)
    rows = [json.loads(line) for line in (tmp_path / "fig8" / "summary.jsonl").read_text().splitlines()]
    assert rows[0]["grid_min"] == 0.0 and rows[0]["s_at_min"] == 1.0 and rows[0]["theta_at_min"] == 0.0
    assert rows[3]["grid_min"] == 0.0 and rows[3]["s_at_min"] == 5.0
    z = np.load(tmp_path / "fig8" / "grids.npz")
    S, T = np.meshgrid(z["5_s"], z["5_theta"], indexing="ij")
    np.testing.assert_allclose(z["5_loss"], np.logaddexp(S * np.cos(T), S * np.sin(T)), rtol=1e-6, atol=1e-6)
    # unit arrows: an option of the same files
    png = fig8.main(["--tiny", "--unit-arrows", "--out", str(tmp_path / "unit")])
    assert json.loads((tmp_path / "unit" / "config.json").read_text())["arrows"] == "unit"


def test_ratio_table_tiny(tmp_path):
    from experiments.landscape import ratio_table

    rows = ratio_table.main(["--tiny", "--out", str(tmp_path)])
    assert (tmp_path / "table.md").exists()
    r = {(x["loss"], str(x["K"]), x["alpha"], x["M"]): x for x in rows}
    # K → ∞, α = M = 1: s* = M, κ_r = α, κ_t = 1 (exact: f = ½(x − 1)² + ½y²).
    x = r[("rescaled_mse", "inf", 1.0, 1.0)]
    assert abs(x["s_star"] - 1) < 1e-12 and abs(x["kappa_r"] - 1) < 1e-12 and abs(x["kappa_t"] - 1) < 1e-12
    x = r[("rescaled_mse", "inf", 2.0, 2.0)]  # κ_r = α, κ_t = 1, s* = M
    assert abs(x["s_star"] - 2) < 1e-12 and abs(x["kappa_r"] - 2) < 1e-12 and abs(x["kappa_t"] - 1) < 1e-12


def test_slices_tiny(tmp_path):
    from experiments.landscape import slices

    slices.main(["--tiny", "--out", str(tmp_path)])
    r = json.loads((tmp_path / "slices.json").read_text())
    for c in r["d"]:
        if c["predicted_min_eig"] is not None:
            assert abs(c["eigenvalue"] - c["predicted_min_eig"]) < 1e-12  # dense eigh vs THEORY.md §3
    assert (tmp_path / "slices.png").stat().st_size > 1000
