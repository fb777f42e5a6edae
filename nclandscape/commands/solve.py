"""``nclandscape solve``: optimise one UFM problem and compare with the theory."""
from __future__ import annotations

from nclandscape.commands._common import add_problem_args, print_json, problem_from_args
from nclandscape.errors import ConfigError

NAME = "solve"
HELP = "optimise one UFM problem (GD, momentum, Nesterov, Adam, L-BFGS) and report gap and NC metrics"


def add_arguments(p):
    from nclandscape.optimizers import DEFAULT_OPTIMIZER, optimizer_names

    add_problem_args(p)
    g = p.add_argument_group("optimiser")
    g.add_argument("--optimizer", default=DEFAULT_OPTIMIZER, help=" | ".join(optimizer_names()))
    g.add_argument("--lr", type=float, default=None, help="learning rate (default per optimiser)")
    g.add_argument("--steps", type=int, default=1000, help="maximum number of steps")
    g.add_argument("--tol", type=float, default=None, help="stop when ||grad|| <= tol (1e-10 in x64, 1e-5 in f32)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    g.add_argument("--scale", type=float, default=1.0, help="std of the random initialisation")
    g.add_argument("--dynamics", default="auto", help="auto | full | reduced: the exact class-reduced dynamics "
                   "(MSE family, full batch, not Adam); auto uses it where exact and n >= 256")
    p.add_argument("--save", default=None, metavar="FILE.npz",
                   help="write the final point as arrays W (K x d), H (d x N, columns grouped by class) and b (K; "
                        "zeros without bias); read it back with `nclandscape decompose FILE.npz`")


def decomposition_keys(prob, out: dict) -> dict:
    """``L_nc1_within, L_nc1_ridge, L_nc23, L_perp, L_features`` of the solved point (vanilla MSE;
    None otherwise), from the full parameters or, without them, the reduced state."""
    import jax.numpy as jnp

    from nclandscape.central_path import JSON_KEYS, class_stats_reduced, decomposition, decomposition_from_stats
    from nclandscape.objectives import loss_of

    if not loss_of(prob.loss).decomposition or out["status"] == "diverged":
        return {k: None for k in JSON_KEYS.values()}
    hp = prob.hparams(dtype=jnp.float64 if out["dtype"] == "float64" else jnp.float32)
    p = out.get("_params")
    if p is not None:
        data = prob.data(dtype=hp.lambda_W.dtype)
        t = decomposition(p.W, p.H, p.b * data.bias, data.Y, hp, bias=data.bias)
    else:
        rp = out["_rparams"]
        sizes = jnp.asarray([prob.N // prob.K] * prob.K if prob.class_sizes is None else prob.class_sizes, rp.G.dtype)
        t = decomposition_from_stats(rp.W, rp.b * float(prob.bias), class_stats_reduced(rp.G, rp.D, sizes),
                                     lam_W=hp.lambda_W, lam_H=hp.lambda_H, lam_b=hp.lambda_b, bias=prob.bias)
    return t.as_json()


def save_point(path: str, prob, params) -> None:
    """``W (K, d)``, ``H (d, N)`` and ``b (K,)`` of the final point as ``.npz`` (b = 0 without bias)."""
    import numpy as np

    W, H, b = (np.asarray(x) for x in (params.W, params.H, params.b))
    np.savez(path, W=W, H=H, b=b * (1.0 if prob.bias else 0.0))


def validate(args):
    """Every check of ``solve``, before any work: types, ranges, int32 limits, NaN and memory."""
    from nclandscape.commands._common import check_solver_memory
    from nclandscape.solve import check_optimizer
    from nclandscape.validate import check_float, check_int

    prob = problem_from_args(args)
    check_optimizer(args.optimizer)
    check_int("--steps", args.steps, lo=0)
    check_int("--seed", args.seed, lo=0)
    check_float("--lr", args.lr, lo=0, lo_open=True, allow_none=True)
    check_float("--tol", args.tol, lo=0, allow_none=True)
    check_float("--scale", args.scale, lo=0)
    from nclandscape.reduced.policy import choose_dynamics

    dynamics = choose_dynamics(args.dynamics, prob.loss, args.optimizer, prob.n)
    check_solver_memory(args, prob, what=f"solve ({dynamics} dynamics)", reduced=dynamics == "reduced")
    return prob


def main(args) -> int:
    import jax.numpy as jnp

    from nclandscape.solve import solve_problem

    prob = validate(args)
    dtype = jnp.float64 if args.x64 else jnp.float32
    from nclandscape.reduced.policy import choose_dynamics

    dynamics = choose_dynamics(args.dynamics, prob.loss, args.optimizer, prob.n)
    if args.save and not args.save.endswith(".npz"):
        raise ConfigError(f"--save {args.save}: give a file name ending in .npz")
    if args.save and dynamics == "reduced":
        from nclandscape.reduced import FULL_DRAW_MAX_ENTRIES

        if prob.N * prob.d > FULL_DRAW_MAX_ENTRIES:
            raise ConfigError(f"--save needs the per-sample features, which the reduced dynamics does not keep "
                              f"above N*d = {FULL_DRAW_MAX_ENTRIES} (here {prob.N * prob.d}); use a smaller n or d")
    if dynamics == "reduced":
        from nclandscape.reduced import solve_problem_reduced

        out = solve_problem_reduced(prob, optimizer=args.optimizer, lr=args.lr, steps=args.steps, seed=args.seed,
                                    scale=args.scale, tol=args.tol, dtype=dtype)
    else:
        out = solve_problem(prob, optimizer=args.optimizer, lr=args.lr, steps=args.steps, seed=args.seed,
                            scale=args.scale, tol=args.tol, dtype=dtype)
        out["dynamics"] = "full"
    out = {"K": prob.K, "n": prob.n, "d": prob.d, "loss": prob.loss, "bias": prob.bias, **out,
           **decomposition_keys(prob, out)}
    if args.save:
        save_point(args.save, prob, out["_params"])
    if args.json:
        print_json(out)
    else:
        print(f"{prob.loss} K={prob.K} n={prob.n} d={prob.d} bias={prob.bias}  {args.optimizer} ({out['dynamics']} dynamics), {out['steps']} steps, {out['status']} ({out['time_s']:.2f} s)")
        print(f"  objective {out['objective']:.10g}   ||grad|| {out['grad_norm']:.2e}")
        if out["f_star"] is not None:
            print(f"  f* {out['f_star']:.10g}   gap {out['gap']:.3e}   regime {out['regime']}")
        fmt = lambda v, f: "n/a" if v is None or v != v else format(v, f)  # noqa: E731
        print(f"  NC1 {fmt(out['nc1'], '.2e')}  NC2 {fmt(out['nc2'], '.2e')}  NC3 {fmt(out['nc3'], '.2e')}  NC4 {fmt(out['nc4'], '.3f')}"
              f"  rank {fmt(out['numerical_rank'], '.3f')}  min cos margin {fmt(out['min_cos_margin'], '.4f')}")
        if out["L_perp"] is not None:
            print(f"  L_NC1 {out['L_nc1_within']:.4g} (within) + {out['L_nc1_ridge']:.4g} (ridge)  L_NC2/3 {out['L_nc23']:.4g}"
                  f"  L_perp {out['L_perp']:.3e}  L_H {out['L_features']:.4g}")
        if args.save:
            print(f"  wrote {args.save}")
    return 0 if out["status"] != "diverged" else 1
