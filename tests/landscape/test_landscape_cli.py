"""The ``landscape`` and ``slice`` commands: JSON contract, numbers, figures, exit codes."""
import json
import math

import numpy as np
import pytest

from nclandscape.cli import main


def run(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_landscape_json_contract_and_values(capsys):
    rc, out, _ = run(capsys, ["landscape", "--loss", "rescaled_mse", "--alpha", "3", "--M", "2", "--K", "inf",
                              "--s", "0:4:5", "--theta=-pi:pi:5", "--x64", "--json", "--grad"])
    assert rc == 0
    o = json.loads(out)
    s, th, L = np.array(o["s"]), np.array(o["theta"]), np.array(o["loss"])
    np.testing.assert_allclose(s, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(th, np.linspace(-math.pi, math.pi, 5))
    assert L.shape == (5, 5)  # loss[i][j] at s[i], theta[j]
    ref = 1.5 * (s[:, None] * np.cos(th)[None, :] - 2) ** 2 + 0.5 * s[:, None] ** 2 * np.sin(th)[None, :] ** 2
    np.testing.assert_allclose(L, ref, rtol=1e-12, atol=1e-12)  # float64 rounding of O(50) values
    assert np.array(o["grad_s"]).shape == np.array(o["grad_theta"]).shape == (5, 5)


@pytest.mark.slow
def test_landscape_finite_K_ce_and_figure(capsys, tmp_path):
    png = tmp_path / "ce.png"
    rc, out, _ = run(capsys, ["landscape", "--loss", "ce", "--K", "5", "--s", "0,1", "--theta", "0,1", "--x64",
                              "--json", "--out", str(png)])
    assert rc == 0 and png.stat().st_size > 1000
    L = json.loads(out)["loss"]
    # s = 0: log K; s = 1, θ = 0: log(1 + (K−1) e^{−K/(K−1)}).
    assert abs(L[0][0] - math.log(5)) < 1e-14 and abs(L[1][0] - math.log1p(4 * math.exp(-1.25))) < 1e-14
    rc, out, _ = run(capsys, ["landscape", "--K", "4"])
    assert rc == 0 and "grid minimum" in out
    rc, out, _ = run(capsys, ["landscape", "--K", "4", "--view", "plane", "--out", str(tmp_path / "p.png")])
    assert rc == 0 and (tmp_path / "p.png").stat().st_size > 1000
    rc, out, _ = run(capsys, ["landscape", "--K", "4", "--arrows", "unit", "--out", str(tmp_path / "u.png")])
    assert rc == 0 and (tmp_path / "u.png").stat().st_size > 1000


@pytest.mark.parametrize("argv", [
    ["landscape", "--K", "1"], ["landscape", "--K", "x"], ["landscape", "--loss", "hinge"],
    ["landscape", "--s", "0:1:x"], ["landscape", "--s=-1,1"], ["landscape", "--loss", "mse", "--alpha", "2"],
    ["landscape", "--loss", "rescaled_mse", "--M", "0.5"], ["landscape", "--lambda-H", "-1"],
    ["landscape", "--theta", "0", "--out", "x.png"], ["landscape", "--view", "side"],
    ["landscape", "--arrows", "long"],
    ["slice", "--K", "4", "--n", "2", "--d", "5", "--at", "saddle:0"],
    ["slice", "--K", "4", "--n", "2", "--d", "5", "--dims", "3"],
    ["slice", "--K", "4", "--n", "2", "--d", "5", "--directions", "negative-curvature"],
    ["slice", "--K", "4", "--n", "2", "--d", "5", "--span", "0"],
    ["slice", "--K", "4", "--n", "2", "--d", "5", "--loss", "rescaled_mse", "--alpha", "2"],
])
def test_bad_input_exit_2(capsys, argv):
    rc, _, err = run(capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "error" in err


def test_slice_saddle_json(capsys, tmp_path):
    png = tmp_path / "s.png"
    rc, out, _ = run(capsys, ["slice", "--K", "4", "--n", "2", "--d", "5", "--no-bias", "--lambda-W", "1e-2",
                              "--lambda-H", "1e-2", "--at", "saddle:0,1", "--directions", "negative-curvature",
                              "--dims", "2", "--points", "5", "--x64", "--json", "--out", str(png)])
    assert rc == 0 and png.stat().st_size > 1000
    o = json.loads(out)
    L = np.array(o["loss"])
    assert L.shape == (5, 5) and o["t1"] == o["t2"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert abs(o["eigenvalues"][0] - o["predicted_min_eig"]) < 1e-12  # THEORY.md §3
    assert L[2, 2] == pytest.approx(o["f0"], abs=1e-15) and L[1, 2] < o["f0"] and L[2, 1] > o["f0"]


def test_slice_global_1d(capsys):
    rc, out, _ = run(capsys, ["slice", "--K", "4", "--n", "2", "--d", "5", "--at", "global", "--points", "7",
                              "--x64", "--json"])
    o = json.loads(out)
    assert rc == 0 and len(o["t"]) == len(o["loss"]) == 7
    assert abs(o["f0"] - o["f_star"]) < 1e-13 and min(o["loss"]) >= o["f_star"] - 1e-13


def _console_blocks(path):
    """(argv, expected output) of every ``$ nclandscape ...`` line in the console blocks of a doc."""
    import shlex

    cmds, cur, inside = [], None, False
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```console"
            cur = None
            continue
        if not inside:
            continue
        if line.startswith("$ nclandscape "):
            cur = (shlex.split(line[2:])[1:], [])
            cmds.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return cmds


_NUM = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


@pytest.mark.slow
def test_docs_console_output_is_real(capsys, tmp_path, monkeypatch):
    # docs/landscape.md shows real output: rerun every command and compare text exactly and every
    # number to 1e-9 relative (+1e-12 absolute for rounding-level values such as a -1.5e-16 eigenvalue).
    import os
    import re

    doc = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "landscape.md")
    blocks = _console_blocks(doc)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    for argv, expected in blocks:
        rc, out, _ = run(capsys, argv)
        assert rc == 0, argv
        got = out.rstrip("\n").splitlines()
        assert len(got) == len(expected), (argv, got)
        for g, e in zip(got, expected):
            assert re.sub(_NUM, "#", g) == re.sub(_NUM, "#", e), (g, e)
            for a, b in zip(re.findall(_NUM, g), re.findall(_NUM, e)):
                assert abs(float(a) - float(b)) <= 1e-9 * abs(float(b)) + 1e-12, (g, e)


@pytest.mark.slow
def test_docs_python_snippets_run(capsys):
    import os
    import re

    doc = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "landscape.md")
    blocks = re.findall(r"```python\n(.*?)```", open(doc, encoding="utf-8").read(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/landscape.md", "exec"), {})
    assert "(41, 61) (41, 61) (41, 61)" in capsys.readouterr().out
