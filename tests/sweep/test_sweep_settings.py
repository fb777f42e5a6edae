"""The sweep's engine settings (one frozen, validated object) and planning (nclandscape.sweep.plan)."""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from nclandscape.errors import ConfigError
from nclandscape.reduced.policy import REDUCED_AUTO_MIN_N, choose_dynamics
from nclandscape.sweep import EngineSettings, SweepSpec
from nclandscape.sweep.plan import config_dynamics, resume_key_of
from nclandscape.sweep.settings import DEFAULTS, NON_NUMERIC


def _args(**kw):
    from nclandscape.commands import sweep as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    argv = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    return p.parse_args(argv + ["--out", "unused"])


def test_settings_are_validated_once_and_frozen():
    s = EngineSettings.from_dict({"chunk_size": 7, "x64": True})
    assert (s.chunk_size, s.x64, s.slots) == (7, True, DEFAULTS.slots)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.chunk_size = 3
    with pytest.raises(ConfigError, match="unknown \\[sweep\\] setting 'chunk'"):
        EngineSettings.from_dict({"chunk": 7})
    for bad, what in (({"slots": 0}, "slots"), ({"chunk_size": True}, "chunk_size"), ({"x64": "false"}, "x64"),
                      ({"dynamics": "fast"}, "dynamics"), ({"fused": "cuda"}, "fused"),
                      ({"plots": [{"x": "lambda_W", "y": "nope", "color": "nc1"}]}, "not an axis")):
        with pytest.raises(ConfigError, match=what):
            EngineSettings.from_dict(bad)
    with pytest.raises(ConfigError, match="slots"):
        s.replace(slots=-1)  # a replacement is validated like a new object
    plots = EngineSettings.from_dict({"plots": [{"x": "lambda_W", "y": "lambda_H", "color": "nc1"}]}).plots
    with pytest.raises(TypeError, match="frozen"):
        plots[0]["color"] = "nc2"


def test_every_command_line_flag_goes_through_the_settings(tmp_path):
    from nclandscape.commands.sweep import build_spec

    toml = tmp_path / "s.toml"
    toml.write_text('[sweep]\nchunk_size = 3\nslots = 5\n[fixed]\nK = 3\nn = 2\nd = 2\n')
    spec = build_spec(_args(chunk_size=11, slots=2, x64=True, hessian=True, dynamics="full", fused="off", set="K=3"))
    assert spec.engine == EngineSettings(x64=True, chunk_size=11, slots=2, hessian=True, dynamics="full", fused="off")
    p = argparse.ArgumentParser()
    from nclandscape.commands import sweep as cmd

    cmd.add_arguments(p)
    from_file = build_spec(p.parse_args([str(toml), "--out", "x"]))
    assert (from_file.engine.chunk_size, from_file.engine.slots) == (3, 5)
    overridden = build_spec(p.parse_args([str(toml), "--out", "x", "--chunk-size", "9"]))
    assert (overridden.engine.chunk_size, overridden.engine.slots) == (9, 5)


def test_resume_key_covers_only_what_changes_numbers():
    import numpy as np

    base = SweepSpec({"K": 3, "n": 2, "d": 2}, None, None, {"x64": True})
    key = resume_key_of(base, np.float64)
    for k, v in (("chunk_size", 5), ("slots", 3), ("plots", [{"x": "lambda_W", "y": "lambda_H", "color": "nc1"}])):
        assert k in NON_NUMERIC
        other = SweepSpec({"K": 3, "n": 2, "d": 2}, None, None, {"x64": True, k: v})
        assert resume_key_of(other, np.float64) == key
    for k, v in (("hessian", True), ("dynamics", "full"), ("fused", "off")):
        other = SweepSpec({"K": 3, "n": 2, "d": 2}, None, None, {"x64": True, k: v})
        assert resume_key_of(other, np.float64) != key, k
    assert resume_key_of(base, np.float32) != key
    assert resume_key_of(SweepSpec({"K": 3, "n": 3, "d": 2}, None, None, {"x64": True}), np.float64) != key


@pytest.mark.parametrize("n", [REDUCED_AUTO_MIN_N - 1, REDUCED_AUTO_MIN_N])
def test_solve_and_sweep_read_one_dynamics_policy(n):
    c = {"loss": "mse", "optimizer": "gd", "n": n}
    want = "reduced" if n >= REDUCED_AUTO_MIN_N else "full"
    assert config_dynamics(c, "auto") == choose_dynamics("auto", "mse", "gd", n) == want
    assert choose_dynamics("auto", "mse", "adam", n) == "full"  # Adam is not exactly reducible
    assert choose_dynamics("full", "mse", "gd", n) == "full"


@pytest.mark.slow
def test_run_sweep_refuses_x64_specs_when_jax_runs_float32(tmp_path):
    code = ("import jax; from nclandscape.sweep import SweepSpec, run_sweep\n"
            "run_sweep(SweepSpec({'K': 3, 'n': 2, 'd': 2}, None, None, {'x64': True}), %r, progress=False)\n"
            % str(tmp_path / "o"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "x64 = true but JAX runs in float32" in r.stderr
    assert not (tmp_path / "o" / "parts").exists() or not any((tmp_path / "o" / "parts").iterdir())


@pytest.mark.slow
def test_newton_on_several_cpu_devices_is_refused_before_any_work(tmp_path):
    """jaxlib's batched CPU Cholesky deadlocks with several CPU devices in one process: the sweep
    refuses up front instead of hanging (a subprocess with 2 host devices)."""
    code = ("import jax; jax.config.update('jax_enable_x64', True)\n"
            "from nclandscape.sweep import SweepSpec, run_sweep\n"
            "from nclandscape.errors import ConfigError\n"
            "spec = SweepSpec({'K': 3, 'n': 2, 'd': 2, 'optimizer': %r}, None, None, {'x64': True})\n"
            "try:\n    run_sweep(spec, %r, progress=False); print('RAN', len(jax.devices()))\n"
            "except ConfigError as e:\n    print('REFUSED', e)\n")
    env = {"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    for opt, want in (("newton", "REFUSED"), ("gd", "RAN 2")):
        out = tmp_path / opt
        r = subprocess.run([sys.executable, "-c", code % (opt, str(out))], capture_output=True, text=True,
                           timeout=300, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(want), r.stdout
        if want == "REFUSED":
            assert "one CPU device per process" in r.stdout and not (out / "config.json").exists()
