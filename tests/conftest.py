"""Tests run in float64 (exact answers need it) with strict dtype promotion; float32 behaviour is
tested explicitly.

Every tolerance in the suite is written with its reason next to it.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Strict dtype promotion: an implicit promotion in nclandscape (int32 with int64, a bool mask
# times a float array, float32 with float64) is an error here, in this process and in the CLI
# processes that tests start (they inherit the environment).
os.environ["JAX_NUMPY_DTYPE_PROMOTION"] = "strict"
# Compiling dominates the suite's time on a 2-core CPU, and the test problems are tiny: tests
# compile with XLA's backend (LLVM) optimisation level 0, which about halves compile time. The
# programs are the same HLO; only machine-code optimisation is skipped (benchmarks and the CLI
# run at the default level). Inherited by CLI processes that tests start.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _fresh_compilation_caches():
    """Drop compiled programs after every test module: one process runs the whole suite, and its
    caches otherwise grow to several GB of executables (an XLA compile later in such a run
    crashed on this machine)."""
    yield
    from nclandscape.sweep import PROGRAMS

    PROGRAMS.clear()
    jax.clear_caches()
