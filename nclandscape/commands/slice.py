"""``nclandscape slice``: 1-D / 2-D slices of the full UFM objective around a point."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, num_samples, print_json, problem_from_args

NAME = "slice"
HELP = "1-D/2-D slices of the full UFM objective around a solution or saddle (random, Hessian, negative-curvature directions)"
DESCRIPTION = (
    "Evaluate f(x0 + t1 d1 [+ t2 d2]) for t in linspace(-span, span, points). x0: --at global (closed-form "
    "minimiser of mse/ce), saddle:I,J (no-bias MSE critical point keeping classes I,J; 'saddle:' = the zero "
    "point), critical:I,J (a critical point with bias, Newton from that family) or solve (the solver's output "
    "from a random start). Directions: random (filter-normalised, or unit with "
    "--norm unit), hessian-top / hessian-bottom (unit eigenvectors of the dense Hessian), negative-curvature "
    "(the most negative eigenvector, and for --dims 2 the top one). JSON: 1-D {t, loss}; 2-D {t1, t2, loss} "
    "with loss[i][j] at (t1[i], t2[j])."
)


def add_arguments(p):
    from nclandscape import points

    add_problem_args(p)
    g = p.add_argument_group("slice")
    g.add_argument("--at", default=points.DEFAULT_AT, help=points.AT_HELP)
    g.add_argument("--directions", default="random",
                   help="random | hessian-top | hessian-bottom | negative-curvature (default random)")
    g.add_argument("--dims", type=int, default=1, help="1 or 2 (default 1)")
    g.add_argument("--span", type=float, default=1.0, help="t runs over [-span, span] (default 1)")
    g.add_argument("--points", type=int, default=41, help="grid points per direction (default 41)")
    g.add_argument("--norm", default="filter", help="random directions: filter (filter-normalised) or unit")
    g.add_argument("--seed", type=int, default=points.SOLVE_SEED, help="seed of the random directions (and of --at solve)")
    g.add_argument("--steps", type=int, default=points.SOLVE_STEPS,
                   help=f"--at solve: maximum {points.SOLVE_OPTIMIZER} steps (default {points.SOLVE_STEPS})")
    g.add_argument("--out", default=None, help="write a PNG of the slice")


def validate(args):
    """Every check of ``slice``, before any work: the problem, point, directions, grid size (int32
    and memory: every grid point evaluates the objective once) and --out."""
    from nclandscape.commands._common import check_solver_memory, itemsize
    from nclandscape.errors import ConfigError
    from nclandscape.hessian.dense import check_dense_size
    from nclandscape.landscape.slices import DIRECTIONS
    from nclandscape.points import check_at
    from nclandscape.validate import (INT32_MAX, check_choice, check_float, check_int, check_memory,
                                      check_out_file)

    prob = problem_from_args(args)
    if args.dims not in (1, 2):
        raise ConfigError(f"--dims {args.dims!r}: give 1 or 2")
    check_float("--span", args.span, lo=0, lo_open=True)
    check_int("--points", args.points, lo=2)
    check_int("--seed", args.seed, lo=0)
    check_int("--steps", args.steps, lo=0)
    check_choice("--directions", args.directions, DIRECTIONS)
    check_choice("--norm", args.norm, ("filter", "unit"))
    check_at(prob, args.at)
    if args.out is not None:
        check_out_file("--out", args.out)
    check_solver_memory(args, prob, what="slice")
    P = prob.K * prob.d + prob.d * num_samples(prob) + prob.K
    if args.directions != "random":
        check_dense_size(P, what=f"--directions {args.directions}", fix="use --directions random or lower --K, --n or --d")
    grid = args.points ** args.dims
    if grid > INT32_MAX:
        raise ConfigError(f"--points {args.points} with --dims {args.dims} gives {grid} grid points: "
                          f"give at most {INT32_MAX} (int32 limit); lower --points")
    N = num_samples(prob)
    check_memory(f"a slice of {args.points}^{args.dims} = {grid} points at K={prob.K}, N={N}, d={prob.d}",
                 grid * itemsize(args) * 3 * (P + prob.K * N), "lower --points (or --K, --n, --d)")
    return prob


def compute(args):
    """``(problem, out dict)`` for parsed arguments (shared with the experiments)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from nclandscape.landscape.slices import directions_for, slice_1d, slice_2d
    from nclandscape.objectives import objective_for
    from nclandscape.points import point_at

    prob = validate(args)
    dtype = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    data, hp = prob.data(dtype=dtype), prob.hparams(dtype=dtype)
    objective = objective_for(prob.loss)
    x0, _, info = point_at(prob, args.at, dtype=dtype, seed=args.seed, steps=args.steps)
    ds, dinfo = directions_for(args.directions, objective, x0, data, hp, dims=args.dims,
                               key=jax.random.PRNGKey(args.seed), norm=args.norm)
    t = jnp.linspace(-args.span, args.span, args.points, dtype=dtype)
    f0 = float(objective(x0, data, hp))
    out = {"K": prob.K, "n": prob.n, "d": prob.d, "loss_name": prob.loss, "bias": prob.bias,
           "directions": args.directions, "dims": args.dims, "f0": f0, **info, **dinfo}
    if args.dims == 1:
        v = jax.jit(lambda x0, d, t: slice_1d(objective, x0, data, hp, d, t))(x0, ds[0], t)
        out.update(t=np.asarray(t, np.float64).tolist(), loss=np.asarray(v, np.float64).tolist())
    else:
        v = jax.jit(lambda x0, a, b, t: slice_2d(objective, x0, data, hp, a, b, t, t))(x0, ds[0], ds[1], t)
        tl = np.asarray(t, np.float64).tolist()
        out.update(t1=tl, t2=tl, loss=np.asarray(v, np.float64).tolist())
    out["dtype"] = jnp.dtype(dtype).name
    return prob, out


def title_of(out) -> str:
    t = f"{out['loss_name']} K={out['K']} n={out['n']} d={out['d']} at {out['at']}: {out['directions']}"
    if out.get("eigenvalues"):
        t += " (eig " + ", ".join(f"{e:.3g}" for e in out["eigenvalues"]) + ")"
    return t


def main(args) -> int:
    import numpy as np

    prob, out = compute(args)
    if args.out:
        from nclandscape.landscape import plots

        fig, axes = plots.figure()
        if args.dims == 1:
            plots.plot_slice_1d(axes[0, 0], out["t"], out["loss"], title=title_of(out))
        else:
            plots.plot_slice_2d(axes[0, 0], out["t1"], out["t2"], out["loss"], title=title_of(out))
        plots.save(fig, args.out)
    if args.json:
        print_json(out)
    else:
        L = np.asarray(out["loss"])
        print(title_of(out))
        print(f"  f(x0) = {out['f0']:.10g}; slice range [{L.min():.6g}, {L.max():.6g}] over t in [-{args.span:g}, {args.span:g}] ({out['dtype']})")
        if "f_star" in out:
            print(f"  closed-form f* = {out['f_star']:.10g}")
        if out.get("predicted_min_eig") is not None:
            print(f"  Hessian min eigenvalue predicted by THEORY.md section 3: {out['predicted_min_eig']:.10g}")
        if "hessian_min" in out:
            print(f"  dense Hessian eigenvalues: min {out['hessian_min']:.10g}, max {out['hessian_max']:.10g}")
        if args.out:
            print(f"  wrote {args.out}")
    return 0
