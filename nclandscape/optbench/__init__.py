"""Optimiser convergence benchmark on the UFM: SGD, GD, momentum, Nesterov, Adam and
L-BFGS over many seeds at once, recorded per iteration, summarised and plotted from files.

``run_benchmark(BenchConfig(...), out_dir)`` is the entry point; ``nclandscape optbench`` and
``nclandscape optbench-plot`` are its command lines.
"""
from nclandscape.optbench.config import BENCH_OPTIMIZERS, BenchConfig
from nclandscape.optbench.run import compile_key_of, make_runner, read_optimizer_file, run_benchmark, run_optimizer
from nclandscape.optbench.sgd import minibatch_mask, minibatch_objective
from nclandscape.optbench.summary import summarize, write_summary

__all__ = [
    "BENCH_OPTIMIZERS",
    "BenchConfig",
    "make_runner",
    "compile_key_of",
    "minibatch_mask",
    "minibatch_objective",
    "read_optimizer_file",
    "run_benchmark",
    "run_optimizer",
    "summarize",
    "write_summary",
]
