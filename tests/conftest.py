"""Tests run in float64 (exact answers need it); float32 behaviour is tested explicitly.

Every tolerance in the suite is written with its reason next to it.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
