"""``nclandscape hessian``: the Hessian spectrum of one UFM problem at a chosen point, certified."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, num_samples, print_json, problem_from_args

NAME = "hessian"
HELP = "Hessian spectrum (dense, structured or Lanczos) at a global minimiser, saddle or solver output"
DESCRIPTION = (
    "Hessian spectrum of one UFM problem at --at global (closed form), saddle:I,J,... (the no-bias "
    "critical point keeping singular components I, J, ...; 0-based), critical:I,J,... (a critical "
    "point with bias found by Newton from that family) or solve (the solver's output), with the "
    "certification: gradient norm, min eigenvalue, Morse index, predicted vs measured."
)


def add_point_args(p):
    from nclandscape import points
    from nclandscape.optimizers import optimizer_names

    g = p.add_argument_group("point and method")
    g.add_argument("--at", default=points.DEFAULT_AT, help=points.AT_HELP)
    g.add_argument("--method", default="auto", help="auto | dense | structured | lanczos")
    g.add_argument("--lanczos-steps", type=int, default=100, help="Lanczos steps (method lanczos)")
    g.add_argument("--seed", type=int, default=points.SOLVE_SEED, help="seed of the solver's initialisation (--at solve)")
    g.add_argument("--steps", type=int, default=points.SOLVE_STEPS,
                   help=f"maximum solver steps (--at solve; default {points.SOLVE_STEPS})")
    g.add_argument("--optimizer", default=points.SOLVE_OPTIMIZER, help=f"solver (--at solve): {' | '.join(optimizer_names())}")


def add_arguments(p):
    add_problem_args(p)
    add_point_args(p)


def validate(args):
    """Every check of ``hessian`` (and ``spectrum``), before any work: the problem, the point, the
    method, int32 limits, and the memory of the method (a dense Hessian holds ~5 P x P arrays)."""
    from nclandscape.commands._common import check_solver_memory, itemsize
    from nclandscape.hessian.policy import check_method, plan_method
    from nclandscape.objectives import objective_for
    from nclandscape.points import check_at
    from nclandscape.solve import check_optimizer
    from nclandscape.validate import check_int, check_memory

    prob = problem_from_args(args)
    check_method(args.method)
    check_at(prob, args.at)
    check_int("--lanczos-steps", args.lanczos_steps, lo=1)
    check_int("--seed", args.seed, lo=0)
    check_int("--steps", args.steps, lo=0)
    check_optimizer(args.optimizer)
    check_solver_memory(args, prob, what="hessian")
    P = prob.K * prob.d + prob.d * num_samples(prob) + prob.K
    where = f"P={P} parameters (K={prob.K}, N={num_samples(prob)}, d={prob.d})"
    plan = plan_method(objective_for(prob.loss), P, args.method)
    if plan.method == "dense":
        check_memory(f"--method dense at {where}", 5 * itemsize(args) * P * P,
                     "use --method structured or lanczos, or lower --K, --n or --d")
    elif args.method == "lanczos":
        check_memory(f"--method lanczos with {args.lanczos_steps} steps at {where}",
                     (args.lanczos_steps + 8) * itemsize(args) * P, "lower --lanczos-steps, --K, --n or --d")
    return prob


def report(args) -> dict:
    import jax.numpy as jnp

    from nclandscape.hessian.certify import certify
    from nclandscape.objectives import objective_for
    from nclandscape.points import point_at

    prob = validate(args)
    dtype = jnp.float64 if args.x64 else jnp.float32
    params, pred, info = point_at(prob, args.at, dtype=dtype, seed=args.seed, optimizer=args.optimizer, steps=args.steps)
    data, hp = prob.data(dtype=dtype), prob.hparams(dtype=dtype)
    rep = certify(prob, objective_for(prob.loss), params, data, hp, method=args.method,
                  predicted_min_eig=pred, lanczos_steps=args.lanczos_steps)
    return {"K": prob.K, "n": prob.n, "d": prob.d, "loss": prob.loss, "bias": prob.bias,
            "dtype": jnp.dtype(dtype).name, **info, **rep}


def main(args) -> int:
    out = report(args)
    if args.json:
        print_json(out)
        return 0
    print(f"{out['loss']} K={out['K']} n={out['n']} d={out['d']} bias={out['bias']}  at {out['at']}  "
          f"method {out['method']}  P={out['P']}  ({out['time_s']:.2f} s)")
    print(f"  objective {out['objective']:.10g}   ||grad|| {out['grad_norm']:.2e}   {out['classification']}")
    print(f"  min eig {out['min_eig']:.10g}   max eig {out['max_eig']:.6g}   index {out['index']}   zero eigenvalues {out['num_zero']}")
    pred = out["predicted_min_eig"] if out["predicted_min_eig"] is not None else out["escape_bound"]
    if pred is not None:
        print(f"  predicted min eig {pred:.10g}   measured - predicted {out['min_eig_error']:.2e}")
    if out["gap"] is not None:
        print(f"  f* {out['f_star']:.10g}   gap {out['gap']:.3e}")
    if "block_eigenvalues" in out:
        pairs = ", ".join(f"{v:.4g} (x{m})" for v, m in zip(out["block_eigenvalues"], out["block_multiplicities"]))
        print(f"  eigenvalues with multiplicity: {pairs}")
    return 0
