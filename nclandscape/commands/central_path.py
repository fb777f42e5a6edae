"""``nclandscape central-path``: simulate a central-path flow and compare with its exact ω-law."""
from __future__ import annotations

NAME = "central-path"
HELP = "simulate a central-path flow (projected | renormalized | plain) on the UFM and check its exact law"
DESCRIPTION = """Integrate one of the three central-path flows (docs/central_path.md) on the UFM with
lambda = 0 from a seeded whitened random start (adaptive Dormand-Prince, rtol = atol = 1e-12) and
compare the SNR singular values omega_j(t) with the flow's exact law. --json prints t, omega,
omega_law, max_rel_err, F, nc1, nc2, nc3; the command writes OUT/central_path_<flow>.json and the
figure OUT/central_path_<flow>.png (measured points on the law's curves), drawn from that file
(--out, default runs/central_path; --no-files to write nothing)."""


def add_arguments(p):
    p.add_argument("--K", type=int, default=4, help="number of classes (>= 2)")
    p.add_argument("--n", type=int, default=5, help="samples per class (>= 2)")
    p.add_argument("--d", type=int, default=6, help="feature dimension (<= K (n - 1))")
    p.add_argument("--flow", default="projected", help="projected | renormalized | plain")
    p.add_argument("--t-max", dest="t_max", type=float, default=None,
                   help="final time (default per flow: 250 N projected, 50 N renormalized, 12.5 N plain)")
    p.add_argument("--points", type=int, default=50, help="number of output times, 0 .. t-max")
    p.add_argument("--seed", type=int, default=0, help="seed of the whitened random start")
    p.add_argument("--out", default="runs/central_path",
                   help="folder for the JSON result and the figure (default runs/central_path)")
    p.add_argument("--no-files", action="store_true", help="write nothing (print only)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def main(args) -> int:
    import json
    import os

    from nclandscape.central_path.laws import check_flow
    from nclandscape.central_path.simulate import simulate_flow
    from nclandscape.commands._common import print_json

    check_flow(args.flow)
    r = simulate_flow(args.flow, K=args.K, n=args.n, d=args.d, t_max=args.t_max, points=args.points, seed=args.seed)
    write = bool(args.out) and not args.no_files
    if write:
        from nclandscape.central_path.plots import plot_flow_file

        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, f"central_path_{args.flow}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(r, f)
        os.replace(path + ".tmp", path)
        png = plot_flow_file(path, os.path.join(args.out, f"central_path_{args.flow}.png"))
    if args.json:
        print_json(r)
    else:
        import numpy as np

        om = np.asarray(r["omega"])
        print(f"{args.flow} flow  K={args.K} n={args.n} d={args.d}  t in [0, {r['t_max']:g}], {args.points} points "
              f"({r['time_s']:.2f} s)")
        print(f"  omega(0)  = {np.array2string(om[0], precision=4)}")
        print(f"  omega(T)  = {np.array2string(om[-1], precision=4)}")
        print(f"  max relative error against the exact law: {r['max_rel_err']:.2e}")
        print(f"  F: {r['F'][0]:.6g} -> {r['F'][-1]:.6g}   NC1 {r['nc1'][-1]:.3e}  NC2 {r['nc2'][-1]:.3e}  NC3 {r['nc3'][-1]:.3e}")
        if write:
            print(f"  wrote {path} and {png}")
    return 0
