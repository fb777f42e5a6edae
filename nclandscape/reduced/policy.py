"""Which dynamics a problem runs with: the one ``auto`` policy, read by ``solve`` and ``sweep``."""
from __future__ import annotations

from nclandscape.reduced.state import resolve_dynamics

# ``auto`` uses the reduced dynamics from this many samples per class (below it the full
# simulation is as cheap and keeps every per-sample column).
REDUCED_AUTO_MIN_N = 256


def choose_dynamics(dynamics: str, loss: str, optimizer: str, n: int) -> str:
    """``full`` or ``reduced`` for a ``dynamics`` setting (auto | full | reduced): ``auto`` is
    reduced where it is exact (MSE family, full batch, GD / heavy-ball / Nesterov / L-BFGS) and
    ``n >= REDUCED_AUTO_MIN_N``; ``reduced`` where it is not exact raises a ConfigError."""
    how = resolve_dynamics(dynamics, loss, optimizer)
    if dynamics == "auto" and n < REDUCED_AUTO_MIN_N:
        return "full"
    return how
