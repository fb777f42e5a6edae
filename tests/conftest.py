"""Tests run in float64 (exact answers need it); float32 behaviour is tested explicitly.

Every tolerance in the suite is written with its reason next to it.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


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
