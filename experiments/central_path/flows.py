"""(b) The three central-path flows against their exact ω-laws, and NC1–NC3 against the closed forms in ω.

Command:   nice -n 19 python -m experiments experiments/central_path/flows.py   (tiny CI variant: --tiny --out DIR)
Run time:  ~2-3 min on a shared 2-core CPU (float64, 6 integrations of the full features).
Output:    experiments/central_path/results/flows/{config.json, <flow>_K<K>.json, table.md,
           flows.png} (the JSON of ``nclandscape central-path --json``; the figure drawn from
           those files, largest K).

Each flow (projected, renormalized, plain; docs/central_path.md) is integrated on the UFM with
λ = 0 from a seeded whitened start by ``nclandscape.central_path.simulate_flow`` (adaptive
Dormand–Prince, rtol = atol = 1e-12), over the default time range (ω grows ≥ 3×), for
(K, n, d) = (4, 5, 6) and (10, 5, 12). Expected: every flow follows its own law to ~1e-10;
NC1–NC3 of the projected and renormalized flows equal the closed forms in ω to ~1e-9; the plain
flow does not equalise the ω_j (NC2 stalls) while the other two do.
"""

RUNNER = "experiments.central_path.runner:run_flows"


def get_config(tiny: bool = False) -> dict:
    flows = ["projected", "renormalized", "plain"]
    if tiny:
        return {"problems": [[3, 3, 2]], "flows": flows, "points": 8, "seed": 0}
    return {"problems": [[4, 5, 6], [10, 5, 12]], "flows": flows, "points": 40, "seed": 0}
