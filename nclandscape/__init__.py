"""nclandscape: a JAX engine for the optimisation landscape of Neural Collapse."""
import os as _os

# jaxlib's CPU LAPACK kernels (Cholesky, triangular solves, eigh) run on the OpenBLAS that SciPy
# ships. Its own thread pool spins against XLA's on small matrices: a batch of 64 Cholesky
# factorisations of 170x170 took 0.6-5 s with 2 OpenBLAS threads and 0.025 s with one, measured
# on a 2-core CPU. The matrices here are small, so one BLAS thread is the right default; a value
# the user set wins. (It must be set before NumPy/SciPy load OpenBLAS.)
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from nclandscape.errors import ConfigError
from nclandscape.metrics import NCMetrics, cosine_margins, nc_metrics, sorted_cosine_margins
from nclandscape.objectives import (
    DEFAULT_LOSS, LOSSES, Loss, ce_objective, ce_per_sample, loss_of, mse_objective, mse_per_sample, objective_for,
    register_loss, rescaled_mse_per_sample, weight_decay,
)
from nclandscape.optimizers import ALIASES, DEFAULT_OPTIMIZER, OptimizerSpec, optimizer_spec
from nclandscape.solve import OPTIMIZERS, SolveResult, make_optimizer, solve, solve_problem
from nclandscape.ufm import HParams, Params, Problem, UFMData, init_params, make_data, make_hparams

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "NCMetrics", "cosine_margins", "nc_metrics", "sorted_cosine_margins",
    "DEFAULT_LOSS", "LOSSES", "Loss", "loss_of", "register_loss",
    "ALIASES", "DEFAULT_OPTIMIZER", "OptimizerSpec", "optimizer_spec",
    "ce_objective", "ce_per_sample", "mse_objective", "mse_per_sample", "objective_for",
    "rescaled_mse_per_sample", "weight_decay", "OPTIMIZERS", "SolveResult", "make_optimizer",
    "solve", "solve_problem", "HParams", "Params", "Problem", "UFMData", "init_params",
    "make_data", "make_hparams",
]
