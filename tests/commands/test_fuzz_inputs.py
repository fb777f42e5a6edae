"""A table of bad inputs over every command: each is refused by the command's validation layer
with exit code 2, exactly one line on stderr (``nclandscape CMD: error: ...`` or argparse's
``nclandscape CMD: error: ...``), no traceback, and no file left behind.

The commands run in-process (``nclandscape.cli.main``) and stop in validation, so the table is
fast. The available memory is fixed at 16 GiB so that the memory refusals do not depend on the
machine running the tests.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from nclandscape import cli, validate

GiB = 2**30

FILES = {
    "empty.toml": "",
    "x64str.toml": '[sweep]\nx64 = "false"\n[fixed]\nK = 3\n',
    "hessianstr.toml": '[sweep]\nhessian = "no"\n[fixed]\nK = 3\n',
    "chunk0.toml": "[sweep]\nchunk_size = 0\n[fixed]\nK = 3\n",
    "badplot.toml": '[sweep]\nplots = [{x = "nope", y = "lambda_H", color = "nc2"}]\n[grid]\nlambda_H = [0.1, 0.2]\n',
    "badcolor.toml": '[sweep]\nplots = [{x = "lambda_W", y = "lambda_H", color = "nope"}]\n[grid]\nlambda_H = [0.1, 0.2]\n',
    "plotkey.toml": '[sweep]\nplots = [{x = "lambda_W", y = "lambda_H", color = "nc2", size = 3}]\n[fixed]\nK = 3\n',
    "dynamics.toml": '[sweep]\ndynamics = "fast"\n[fixed]\nK = 3\n',
    "unknown.toml": "[sweep]\nspeed = 3\n[fixed]\nK = 3\n",
    "section.toml": "[axes]\nK = 3\n",
    "sweeponly.toml": "[sweep]\nx64 = false\n",
    "badtoml.toml": "[fixed\nK = 3\n",
    "duptoml.toml": "[grid]\nd = [2, 3, 2]\n",
    "dupzip.toml": "[[zip]]\nK = [3, 3]\nd = [2, 2]\n",
    "zipne.toml": "[[zip]]\nK = [3, 4]\nd = [2]\n",
    "logspace.toml": "[grid]\nlambda_W = {logspace = [0, 1, 3]}\n",
    "rangekind.toml": "[grid]\nd = {steps = [1, 2, 3]}\n",
    "bigint.toml": "[fixed]\nsteps_max = 100000000000\n",
    "floatK.toml": "[fixed]\nK = 3.5\n",
    "syntax.py": "def get_config(tiny=False)\n    return {}\n",
    "noget.py": "x = 1\n",
    "good.py": 'def get_config(tiny=False):\n    return {"data": "tiny", "epochs": 1, "progress": False}\n',
    "variants.py": ('def get_config(tiny=False):\n    return {"data": "tiny", "epochs": 1}\n\n'
                    'def variants(tiny=False):\n    return {"a": {}, "b": {"lr": float("nan")}}\n'),
    "a_file": "not a folder\n",
}
BINARY = {"notutf8.toml": b"\xff\xfe[fixed]\n", "notutf8.py": b"\xff\xfedef get_config(): pass\n"}


def _otherdir(root: Path):
    d = root / "otherdir"
    d.mkdir()
    (d / "config.json").write_text('{"kind": "resnet_train"}\n')
    (root / "emptydir").mkdir()
    (root / "existing_dir").mkdir()
    (root / "corrupt").mkdir()
    (root / "corrupt" / "config.json").write_text('{"kind": "resnet_train", ')


F = "fx/"  # fixtures folder (relative to the test's working folder)

CASES = [
    # decompose
    ["decompose", "missing.npz"],
    ["decompose", "x.npz", "--lambda-W", "-1"],
    ["decompose", "x.npz", "--lambda-H", "nan"],
    ["decompose", "x.npz", "--class-sizes", "a,b"],
    # central-path
    ["central-path", "--K", "1"],
    ["central-path", "--n", "0"],
    ["central-path", "--d", "0"],
    ["central-path", "--flow", "sideways"],
    ["central-path", "--points", "0"],
    ["central-path", "--t-max", "-1"],
    # theory
    ["theory", "--K", "1"],
    ["theory", "--K", "4000000000"],
    ["theory", "--K", "1000000000"],
    ["theory", "--K", "1000000000", "--n", "1", "--d", "1"],
    ["theory", "--K", "200000", "--n", "1"],
    ["theory", "--n", "0"],
    ["theory", "--d", "0"],
    ["theory", "--lambda-W", "nan"],
    ["theory", "--lambda-W", "-1"],
    ["theory", "--lambda-H", "inf"],
    ["theory", "--loss", "foo"],
    ["theory", "--alpha", "2"],
    ["theory", "--loss", "rescaled_mse", "--alpha", "0.5"],
    ["theory", "--loss", "rescaled_mse", "--M", "nan"],
    ["theory", "--K", "abc"],
    ["theory", "--class-sizes", "1,x"],
    ["theory", "--K", "2", "--class-sizes", "0,1"],
    ["theory", "--K", "100000", "--n", "30000"],
    ["theory", "--loss", "ce", "--K", "10", "--d", "2"],
    ["theory", "--loss", "rescaled_mse"],
    ["theory", "--nope"],
    # solve
    ["solve", "--tol", "nan"],
    ["solve", "--tol", "-1"],
    ["solve", "--scale", "-1"],
    ["solve", "--scale", "nan"],
    ["solve", "--lr", "0"],
    ["solve", "--lr", "nan"],
    ["solve", "--lr", "inf"],
    ["solve", "--steps", "-1"],
    ["solve", "--steps", "3000000000"],
    ["solve", "--seed", "5000000000"],
    ["solve", "--seed", "-1"],
    ["solve", "--optimizer", "foo"],
    ["solve", "--dynamics", "foo"],
    ["solve", "--K", "100000", "--n", "100000", "--d", "1000", "--dynamics", "full"],
    ["solve", "--K", "20000", "--n", "1000", "--d", "5000"],
    ["solve", "--loss", "ce", "--alpha", "2"],
    ["solve", "--steps", "ten"],
    # hessian
    ["hessian", "--K", "50", "--n", "50", "--d", "50", "--method", "dense"],
    ["hessian", "--method", "foo"],
    ["hessian", "--at", "nowhere"],
    ["hessian", "--at", "saddle:x"],
    ["hessian", "--lanczos-steps", "0"],
    ["hessian", "--lanczos-steps", "3000000000"],
    ["hessian", "--optimizer", "foo"],
    ["hessian", "--steps", "-5"],
    ["hessian", "--seed", "-1"],
    ["hessian", "--K", "1000", "--n", "100", "--d", "100", "--method", "lanczos", "--lanczos-steps", "2000000000"],
    ["hessian", "--K", "0"],
    # spectrum
    ["spectrum", "--out", "existing_dir"],
    ["spectrum", "--out", "noext"],
    ["spectrum", "--out", "missing/dir/x.png"],
    ["spectrum", "--out", "x.png", "--slq-probes", "0"],
    ["spectrum", "--out", "x.png", "--method", "foo"],
    ["spectrum", "--out", ""],
    ["spectrum", "--out", "x.png", "--K", "1"],
    ["spectrum", "--out", "x.png", "--K", "50", "--n", "50", "--d", "50", "--method", "dense"],
    ["spectrum"],
    # landscape
    ["landscape", "--s", "0:1:20000", "--theta", "0:1:20000"],
    ["landscape", "--K", "1"],
    ["landscape", "--K", "abc"],
    ["landscape", "--K", "4000000000"],
    ["landscape", "--K", "300000"],
    ["landscape", "--loss", "foo"],
    ["landscape", "--s=-1,2"],
    ["landscape", "--s", "0:1:0"],
    ["landscape", "--s", "0:1:x"],
    ["landscape", "--theta", "nan"],
    ["landscape", "--loss", "rescaled_mse", "--alpha", "0.5"],
    ["landscape", "--alpha", "2"],
    ["landscape", "--lambda-H", "-1"],
    ["landscape", "--view", "foo"],
    ["landscape", "--out", "x.png", "--s", "1"],
    ["landscape", "--out", "existing_dir"],
    ["landscape", "--s", "0:1:10000000000"],
    ["landscape", "--s", "0:1:50000", "--theta", "0:1:50000"],
    # slice
    ["slice", "--K", "3", "--n", "2", "--d", "3", "--dims", "2", "--points", "100000"],
    ["slice", "--dims", "3"],
    ["slice", "--points", "1"],
    ["slice", "--points", "3000000000"],
    ["slice", "--span", "0"],
    ["slice", "--span", "nan"],
    ["slice", "--directions", "foo"],
    ["slice", "--norm", "foo"],
    ["slice", "--at", "foo"],
    ["slice", "--directions", "hessian-top", "--K", "50", "--n", "50", "--d", "50"],
    ["slice", "--out", "existing_dir"],
    ["slice", "--points", "50000", "--dims", "2"],
    # plot
    ["plot", "missing_dir"],
    ["plot", F + "a_file"],
    ["plot", "emptydir"],
    ["plot", "emptydir", "--agg", "mode"],
    ["plot", "emptydir", "--out", "existing_dir"],
    ["plot", "emptydir", "--where", "K"],
    ["plot", "emptydir", "--where", "K=abc"],
    ["plot", "corrupt"],
    # sweep
    ["sweep", "--out", "o", "--set", "steps_max=1000000000000"],
    ["sweep", "--out", "o", "--set", "seed=5000000000"],
    ["sweep", "--out", "o", "--set", "K=4000000000"],
    ["sweep", "--out", "o", "--grid", "d=2,2,3"],
    ["sweep", "--out", "", "--set", "K=3"],
    ["sweep", "--out", "o", "--set", "K=3", "--chunk-size", "0"],
    ["sweep", "--out", "o", "--set", "K=3", "--chunk-size", "3000000000"],
    ["sweep", F + "empty.toml", "--out", "o"],
    ["sweep", F + "x64str.toml", "--out", "o"],
    ["sweep", F + "hessianstr.toml", "--out", "o"],
    ["sweep", F + "chunk0.toml", "--out", "o"],
    ["sweep", F + "badplot.toml", "--out", "o"],
    ["sweep", F + "badcolor.toml", "--out", "o"],
    ["sweep", F + "plotkey.toml", "--out", "o"],
    ["sweep", F + "dynamics.toml", "--out", "o"],
    ["sweep", F + "unknown.toml", "--out", "o"],
    ["sweep", F + "section.toml", "--out", "o"],
    ["sweep", F + "sweeponly.toml", "--out", "o"],
    ["sweep", F + "badtoml.toml", "--out", "o"],
    ["sweep", F + "duptoml.toml", "--out", "o"],
    ["sweep", F + "dupzip.toml", "--out", "o"],
    ["sweep", F + "zipne.toml", "--out", "o"],
    ["sweep", F + "logspace.toml", "--out", "o"],
    ["sweep", F + "rangekind.toml", "--out", "o"],
    ["sweep", F + "bigint.toml", "--out", "o"],
    ["sweep", F + "floatK.toml", "--out", "o"],
    ["sweep", F + "notutf8.toml", "--out", "o"],
    ["sweep", F + "missing.toml", "--out", "o"],
    ["sweep", "--out", "o", "--set", "foo=1"],
    ["sweep", "--out", "o", "--set", "K=abc"],
    ["sweep", "--out", "o", "--set", "K=1"],
    ["sweep", "--out", "o", "--set", "lr=-1"],
    ["sweep", "--out", "o", "--set", "tol=-1"],
    ["sweep", "--out", "o", "--set", "scale=-1"],
    ["sweep", "--out", "o", "--set", "optimizer=foo"],
    ["sweep", "--out", "o", "--set", "loss=foo"],
    ["sweep", "--out", "o", "--set", "bias=maybe"],
    ["sweep", "--out", "o", "--set", "lambda_W=nan"],
    ["sweep", "--out", "o", "--set", "K"],
    ["sweep", "--out", "o", "--logspace", "lambda_W=0:1:3"],
    ["sweep", "--out", "o", "--linspace", "d=1:2:x"],
    ["sweep", "--out", "o", "--zip", "K=3,4", "d=2"],
    ["sweep", "--out", "o", "--zip", "K=3,3", "d=2,2"],
    ["sweep", "--out", "o", "--grid", "K="],
    ["sweep", "--out", "o", "--set", "K=3", "--dynamics", "reduced", "--set", "loss=ce"],
    ["sweep", "--out", "o", "--set", "K=3", "--fused", "foo"],
    ["sweep", "--out", F + "a_file", "--set", "K=3"],
    ["sweep", "--out", "o"],
    ["sweep", "--out", "o", "--set", "K=100000", "--set", "n=100000"],
    ["sweep", "--out", "o", "--set", "K=2000", "--set", "n=2000", "--set", "d=4000"],
    ["sweep", "--out", "o", "--grid", "lr=nan,0.1", "--set", "optimizer=gd"],
    ["sweep", "--out", "o", "--grid", "alpha=1,2", "--set", "loss=mse"],
    ["sweep", "--out", "o", "--logspace", "lambda_W=1e-3:1:100000", "--logspace", "lambda_H=1e-3:1:100000"],
    # optbench
    ["optbench", "--out", F + "a_file"],
    ["optbench", "--out", ""],
    ["optbench", "--out", "o", "--steps", "0"],
    ["optbench", "--out", "o", "--seeds", "0"],
    ["optbench", "--out", "o", "--seeds", "3000000000"],
    ["optbench", "--out", "o", "--optimizers", "foo"],
    ["optbench", "--out", "o", "--optimizers", "gd,gd"],
    ["optbench", "--out", "o", "--momentum", "nan"],
    ["optbench", "--out", "o", "--momentum", "1"],
    ["optbench", "--out", "o", "--sgd-lr", "-1"],
    ["optbench", "--out", "o", "--tol", "nan"],
    ["optbench", "--out", "o", "--thresholds", "a"],
    ["optbench", "--out", "o", "--lr", "foo"],
    ["optbench", "--out", "o", "--seeds", "100000", "--K", "1000", "--n", "100", "--d", "100"],
    ["optbench", "--out", "o", "--K", "1"],
    ["optbench", "--out", "corrupt"],
    # optbench-plot
    ["optbench-plot", "missing"],
    ["optbench-plot", F + "a_file"],
    ["optbench-plot", "emptydir"],
    ["optbench-plot", "otherdir"],
    # train
    ["train", F + "syntax.py", "--out", "o"],
    ["train", F + "missing.py", "--out", "o"],
    ["train", F + "notutf8.py", "--out", "o"],
    ["train", F + "noget.py", "--out", "o"],
    ["train", F + "good.py", "--out", "o", "--set", "lr=nan"],
    ["train", F + "good.py", "--out", "o", "--set", "lr=inf"],
    ["train", F + "good.py", "--out", "o", "--set", "momentum=nan"],
    ["train", F + "good.py", "--out", "o", "--set", "eval_batch_size=0"],
    ["train", F + "good.py", "--out", "o", "--set", "train_per_class=-1"],
    ["train", F + "good.py", "--out", "o", "--set", "epochs=0"],
    ["train", F + "good.py", "--out", "o", "--set", "foo=1"],
    ["train", F + "good.py", "--out", "o", "--set", "batch_size=x"],
    ["train", F + "good.py", "--out", "o", "--set", "seed=5000000000"],
    ["train", F + "good.py", "--out", "o", "--set", "shards=xyz"],
    ["train", F + "good.py", "--out", "o", "--set", "loss=foo"],
    ["train", F + "good.py", "--out", "o", "--set", "weight_decay=nan"],
    ["train", F + "good.py", "--out", F + "a_file"],
    ["train", F + "good.py", "--out", "o", "--run", "nope"],
    ["train", F + "variants.py", "--out", "o"],
    ["train", F + "good.py"],
    ["train", F + "good.py", "--out", "corrupt"],
    # no command / unknown command
    ["nope"],
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    fx = root / "fx"
    fx.mkdir()
    for name, text in FILES.items():
        (fx / name).write_text(text)
    for name, data in BINARY.items():
        (fx / name).write_bytes(data)
    _otherdir(root)
    return root


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 100
    names = {m.NAME for m in cli._command_modules()}
    assert names <= {c[0] for c in CASES}


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c)[:60] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(argv, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(validate, "available_memory", lambda host=False: (16 * GiB, "memory"))
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(k, raising=False)
    before = _tree(workdir)
    try:
        rc = cli.main(list(argv))
    except SystemExit as e:  # argparse refusals
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("nclandscape") and "error:" in lines[0], err
    assert "Traceback" not in err
    assert _tree(workdir) == before  # nothing written, not even config.json or an empty folder


@pytest.mark.parametrize("env,says", [
    ({"JAX_NUM_PROCESSES": "2"}, "set JAX_COORDINATOR_ADDRESS, JAX_PROCESS_ID too"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}, "write HOST:PORT"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"}, "must be in [0,"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"}, "integers"),
])
def test_distributed_variables_are_checked_before_joining(env, says, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = _tree(workdir)
    rc = cli.main(["sweep", "--out", "o", "--set", "K=3", "--distributed"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and says in err[0], err
    assert _tree(workdir) == before


def test_memory_estimate_names_the_estimate_and_the_fix(monkeypatch):
    monkeypatch.setattr(validate, "available_memory", lambda host=False: (16 * GiB, "memory"))
    with pytest.raises(validate.ConfigError) as e:
        validate.check_memory("a thing", 20 * GiB, "lower --K")
    assert str(e.value) == "a thing needs about 20 GiB, more than the 16 GiB of memory available: lower --K"
    validate.check_memory("a thing", 12 * GiB, "lower --K")  # 12 <= 0.8 * 16: accepted


def test_available_memory_reads_the_machine():
    avail, where = validate.available_memory()
    # /proc/meminfo's MemAvailable is at most MemTotal.
    total = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal:")).split()[1]) * 1024
    assert where == "memory" and 0 < avail <= total


@pytest.mark.parametrize("argv", [
    # 10^7 samples of dimension 64: the reduced dynamics never holds the (d, N) features.
    ["solve", "--K", "10", "--n", "1000000", "--d", "64", "--x64"],
    ["sweep", "--out", "o", "--set", "K=10", "--set", "n=1000000", "--set", "d=64", "--set", "optimizer=gd"],
    ["sweep", "--out", "o", "--zip", "K=3,3,4", "d=2,3,2"],  # a zip axis may repeat values
    ["theory", "--K", "2000", "--n", "5", "--d", "1000"],
    ["hessian", "--K", "50", "--n", "50", "--d", "50", "--method", "structured"],
    ["slice", "--dims", "2", "--points", "500"],
    ["landscape", "--s", "0:1:2000", "--theta", "0:1:2000"],
])
def test_large_but_feasible_inputs_pass_validation(argv, workdir, monkeypatch):
    import importlib

    monkeypatch.chdir(workdir)
    monkeypatch.setattr(validate, "available_memory", lambda host=False: (16 * GiB, "memory"))
    args = cli.build_parser().parse_args(argv)
    mod = importlib.import_module(f"nclandscape.commands.{argv[0]}")
    mod.validate(args)  # no ConfigError
    assert not (workdir / "o").exists()


def test_the_same_problem_with_full_dynamics_is_refused(workdir, monkeypatch):
    from nclandscape.commands import solve

    monkeypatch.setattr(validate, "available_memory", lambda host=False: (16 * GiB, "memory"))
    args = cli.build_parser().parse_args(["solve", "--K", "10", "--n", "1000000", "--d", "64", "--x64",
                                          "--dynamics", "full"])
    # 24 buffers of P = 640 + 64 * 10^7 float64 numbers: ~114 GiB.
    with pytest.raises(validate.ConfigError, match=r"solve \(full dynamics\) .* needs about 1\d\d GiB"):
        solve.validate(args)
