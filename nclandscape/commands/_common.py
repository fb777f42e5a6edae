"""Flags shared by the problem-level commands (theory, solve, hessian, optbench, ...)."""
from __future__ import annotations

import argparse
import json
import math

from nclandscape.errors import ConfigError


def add_problem_args(p: argparse.ArgumentParser, *, losses=None) -> None:
    """The problem flags; ``losses``: the loss names the command accepts (default: the registry's)."""
    from nclandscape.objectives import DEFAULT_LOSS, LOSSES

    losses = tuple(LOSSES) if losses is None else tuple(losses)
    takers = [name for name in losses if LOSSES[name].hparams]
    g = p.add_argument_group("problem")
    g.add_argument("--K", type=int, default=10, help="number of classes (>= 2)")
    g.add_argument("--n", type=int, default=5, help="samples per class (>= 1)")
    g.add_argument("--d", type=int, default=12, help="feature dimension (>= 1)")
    g.add_argument("--lambda-W", dest="lambda_W", type=float, default=1e-3, help="weight decay on W (>= 0)")
    g.add_argument("--lambda-H", dest="lambda_H", type=float, default=1e-3, help="weight decay on H (>= 0)")
    g.add_argument("--lambda-b", dest="lambda_b", type=float, default=1e-3, help="weight decay on b (>= 0)")
    g.add_argument("--no-bias", dest="bias", action="store_false", help="the no-bias problem (b = 0)")
    g.add_argument("--loss", default=DEFAULT_LOSS, help=f"one of {', '.join(losses)}")
    g.add_argument("--alpha", type=float, default=1.0,
                   help=f"weight on the true class (>= 1; loss {' or '.join(takers)})")
    g.add_argument("--M", type=float, default=1.0, help=f"target on the true class (>= 1; loss {' or '.join(takers)})")
    g.add_argument("--class-sizes", default=None, help="comma-separated samples per class (unbalanced)")
    g.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(_losses=losses)


def problem_from_args(args):
    from nclandscape.objectives import loss_of
    from nclandscape.ufm import Problem

    if args.loss not in args._losses:
        raise ConfigError(f"--loss {args.loss!r} is not allowed here: choose one of {', '.join(args._losses)}")
    loss_of(args.loss).check_hparams(where="--", strict=True, alpha=args.alpha, M=args.M)
    from nclandscape.validate import INT32_MAX, check_int

    check_int("--K", args.K, lo=2)
    check_int("--n", args.n, lo=1)
    check_int("--d", args.d, lo=1)
    sizes = None
    if args.class_sizes:
        try:
            sizes = tuple(int(x) for x in args.class_sizes.split(","))
        except ValueError:
            raise ConfigError(f"--class-sizes {args.class_sizes!r}: give comma-separated integers") from None
        for s in sizes:
            check_int("--class-sizes", s, lo=1)
    N = sum(sizes) if sizes else args.K * args.n
    if N > INT32_MAX:
        raise ConfigError(f"--K {args.K} x --n {args.n} = {N} samples: give at most {INT32_MAX} (int32 limit)")
    return Problem(
        K=args.K, n=args.n, d=args.d, lambda_W=args.lambda_W, lambda_H=args.lambda_H,
        lambda_b=args.lambda_b, bias=args.bias, loss=args.loss, alpha=args.alpha, M=args.M,
        class_sizes=sizes,
    )


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def print_json(obj: dict) -> None:
    print(json.dumps({k: _clean(v) for k, v in obj.items() if not k.startswith("_")}))


def num_samples(prob) -> int:
    """N of a problem without listing its classes (``Problem.N`` builds a K-long list)."""
    return sum(prob.class_sizes) if prob.class_sizes else prob.K * prob.n


def itemsize(args) -> int:
    """Bytes per float of the command's computation (--x64: 8, else 4)."""
    return 8 if getattr(args, "x64", False) else 4


def check_solver_memory(args, prob, *, what: str, copies: int = 24, times: int = 1, reduced: bool = False) -> None:
    """Refuse a problem whose solve would not fit in the available memory (one line, exit 2).
    ``reduced``: the class-reduced dynamics, whose state has K columns instead of N."""
    from nclandscape.validate import check_memory, solver_bytes

    N = prob.K if reduced else num_samples(prob)
    nbytes = times * solver_bytes(prob.K, N, prob.d, itemsize(args), copies=copies)
    check_memory(f"{what} with K={prob.K}, N={num_samples(prob)}, d={prob.d}", nbytes, "lower --K, --n or --d")
