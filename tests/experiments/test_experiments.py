"""The one experiment-config convention (docs/experiments.md), checked on every experiment.

Every ``experiments/<kind>/<name>.py`` other than ``runner.py`` and ``__init__.py`` is a config: a
docstring with its command, run time and expected result, ``get_config(tiny=False)``, and either a
``RUNNER`` (run by ``python -m experiments``) or a training config (run by ``nclandscape train``).
Its tiny variant runs in a test; the sweep spec's tiny command runs here.
"""
import json
import re
from pathlib import Path

import pytest

import experiments
from nclandscape.configs import load_config_module
from nclandscape.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"
CONFIGS = sorted(p for p in EXP.glob("*/*.py") if p.name not in ("__init__.py", "runner.py"))
IDS = [f"{p.parent.name}/{p.stem}" for p in CONFIGS]


def _rel(p):
    return p.relative_to(ROOT).as_posix()


def test_every_kind_has_one_results_folder():
    kinds = [p for p in EXP.iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert {"central_path", "hessian", "landscape", "optbench", "resnet", "sweeps"} <= {k.name for k in kinds}
    for kind in kinds:
        folders = sorted(p.name for p in kind.iterdir() if p.is_dir() and p.name != "__pycache__")
        assert folders == ["results"], kind  # one name for results, no figures/ or out/ beside it


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_follows_the_convention(path):
    mod = load_config_module(path)
    doc = mod.__doc__ or ""
    rel = _rel(path)
    train = not hasattr(mod, "RUNNER")
    command = f"nclandscape train {rel}" if train else f"python -m experiments {rel}"
    assert command in doc, "the docstring gives the command"
    assert re.search(r"\btime\b", doc, flags=re.I) and "Expect" in doc, "and the run time and expected result"
    full, tiny = mod.get_config(), mod.get_config(tiny=True)
    assert isinstance(full, dict) and isinstance(tiny, dict) and full != tiny
    if train:
        from nclandscape.nets.config import load_config_file

        _, runs = load_config_file(path, tiny=True)
        assert runs and all(cfg.data == "tiny" for cfg in runs.values())
    else:
        runner, cfg = experiments.load(path, tiny=True)
        assert callable(runner) and cfg == json.loads(json.dumps(cfg))  # config.json holds it as given
        assert set(cfg) == set(full)  # the tiny variant changes values, never the keys


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_tiny_variant_runs_in_a_test(path):
    """Each config is named by a test file that runs its tiny variant (the figure configs of
    experiments/resnet/ by tests/experiments/test_resnet_experiments.py's glob)."""
    if path.parent.name == "resnet":
        src = (ROOT / "tests" / "experiments" / "test_resnet_experiments.py").read_text()
        assert path.stem.startswith("fig") and '"resnet").glob("fig*.py")' in src
        return
    tests = [t.read_text() for t in (ROOT / "tests" / "experiments").glob("test_*experiments.py")]
    assert any(_rel(path) in t for t in tests), f"no test runs {_rel(path)}"


def test_no_import_time_switches_and_no_path_hacks():
    for p in EXP.rglob("*.py"):
        src = p.read_text()
        if p != EXP / "common.py":  # its float64 decorator is the one place a run switches x64
            assert "jax.config.update" not in src and "enable_x64" not in src, p
        assert "sys.path" not in src, p
    for t in (ROOT / "tests" / "experiments").glob("test_*experiments*.py"):
        if t.name != Path(__file__).name:
            assert "sys.path" not in t.read_text(), t


def test_float64_scope_restores_the_setting():
    import jax

    from experiments.common import float64

    seen = []
    before = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", False)
        float64(lambda: seen.append(jax.numpy.zeros(1).dtype))()
        assert seen == [jax.numpy.float64] and not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", before)


def test_default_out_and_errors(tmp_path):
    assert experiments.default_out("experiments/landscape/fig2.py") == Path("experiments/landscape/results/fig2")
    assert experiments.default_out("experiments/hessian/ce_spectra.py", tiny=True) == Path(
        "experiments/hessian/results/ce_spectra_tiny")
    with pytest.raises(ConfigError, match="nclandscape train"):
        experiments.load("experiments/resnet/fig3_optimizers.py")
    with pytest.raises(SystemExit) as e:  # the command line: one line on stderr, exit code 2
        experiments.main(["experiments/resnet/fig3_optimizers.py", "--tiny"])
    assert e.value.code == 2
    with pytest.raises(ConfigError, match="not a key"):
        experiments.load("experiments/landscape/fig2.py", sets=["nope=1"])
    _, cfg = experiments.load("experiments/landscape/fig2.py", sets=["s_points=3", "arrows=unit"])
    assert cfg["s_points"] == 3 and cfg["arrows"] == "unit"
    with pytest.raises(ConfigError, match="not found"):
        experiments.load(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text('RUNNER = "experiments.landscape.runner:nope"\ndef get_config(tiny=False):\n    return {}\n')
    with pytest.raises(ConfigError, match="names no function"):
        experiments.load(bad)


@pytest.mark.slow
def test_sweep_spec_tiny_command(tmp_path, capsys):
    """The tiny command in experiments/sweeps/default.toml's header: the README's main job at one
    (λ_W, λ_H) cell below the theory's line, one problem per d, every row ok."""
    import pandas as pd

    from nclandscape import cli

    spec = EXP / "sweeps" / "default.toml"
    head = spec.read_text()
    cmd = "nclandscape sweep experiments/sweeps/default.toml --set lambda_W=1e-3 --set lambda_H=1e-3 --out DIR"
    assert cmd in head
    argv = cmd.split()[1:]
    argv[argv.index("DIR")] = str(tmp_path)
    argv[1] = str(spec)
    assert cli.main(argv + ["--quiet"]) == 0
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert sorted(df["d"]) == [4, 9, 16] and (df["status"] == "ok").all()
    assert (df["nc1"] < 1e-6).all()  # λ_W λ_H = 1e-6 < 1/(KN) = 2e-3: collapsed
