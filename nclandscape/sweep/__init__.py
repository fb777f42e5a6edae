"""Sweeps over UFM configurations: specs, the compiled engine, the results store, plots."""
from nclandscape.sweep.engine import PROGRAMS, run_sweep
from nclandscape.sweep.plan import Bucket, plan_buckets
from nclandscape.sweep.settings import EngineSettings
from nclandscape.sweep.spec import INPUT_COLUMNS, SweepSpec, config_id, parse_cli_axes
from nclandscape.sweep.store import ResultStore, read_results

__all__ = ["PROGRAMS", "EngineSettings", "Bucket", "plan_buckets", "run_sweep", "INPUT_COLUMNS", "SweepSpec",
           "config_id", "parse_cli_axes", "ResultStore", "read_results"]
