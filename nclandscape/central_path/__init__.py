"""The central path of Han, Papyan & Donoho (ICLR 2022): MSE decomposition, SNR, flows and laws.

See ``docs/central_path.md`` and ``THEORY_central_path.md`` for the mathematics.
"""
from nclandscape.central_path.decomposition import (
    JSON_KEYS, TERMS, ClassStats, Decomposition, LSClassifier, class_stats, class_stats_reduced, decomposition, decomposition_from_stats,
    ls_classifier, ls_classifier_from_stats, perp_over_f,
)
from nclandscape.central_path.envelope import central_path_value_and_grad
from nclandscape.central_path.flows import (
    Flow, FlowMetrics, ReducedFlowState, central_path_flow, flow_metrics, flow_omega, full_field, integrate_flow,
    reduce_state, reduced_field, whitened_start,
)
from nclandscape.central_path.laws import FLOW_KINDS, check_flow, invert_law, law_coefficients, omega_law, omega_rate
from nclandscape.central_path.snr import (
    SIGMA_W_COND_WARN, OmegaNC, OmegaTerms, central_path_loss, central_path_terms, nc_of_omega, snr_from_stats,
    snr_singular_values,
)

__all__ = [
    "JSON_KEYS", "TERMS", "ClassStats", "Decomposition", "LSClassifier", "class_stats", "class_stats_reduced", "decomposition",
    "decomposition_from_stats", "ls_classifier", "ls_classifier_from_stats", "perp_over_f",
    "central_path_value_and_grad", "Flow", "FlowMetrics", "ReducedFlowState", "central_path_flow", "flow_metrics",
    "flow_omega", "full_field", "integrate_flow", "reduce_state", "reduced_field", "whitened_start", "FLOW_KINDS",
    "check_flow", "invert_law", "law_coefficients", "omega_law", "omega_rate", "SIGMA_W_COND_WARN", "OmegaNC",
    "OmegaTerms", "central_path_loss", "central_path_terms", "nc_of_omega", "snr_from_stats", "snr_singular_values",
]
