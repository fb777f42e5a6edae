"""``nclandscape landscape``: the polar (s, θ) landscape of one feature with W a simplex ETF."""
from __future__ import annotations

from nclandscape.commands._common import print_json

NAME = "landscape"
HELP = "polar (s, theta) landscape and gradient field of one feature, W fixed as a simplex ETF (MSE paper Fig. 2)"
DESCRIPTION = (
    "Evaluate the real per-sample objective of a class-k feature h = s (cos t e1 + sin t e2) placed in "
    "span{w^k, w^k'}, W a unit-row simplex ETF, b = 0 (THEORY.md section 7), on a grid of s = ||h|| and "
    "theta (radians from w^k toward w^k'). --K inf gives the K -> infinity limit (for ce: the limit of "
    "CE - log(K-1), which is -s cos(theta)). JSON: loss[i][j] at s[i], theta[j]."
)


def add_arguments(p):
    from nclandscape.objectives import DEFAULT_LOSS, LOSSES

    takers = " or ".join(name for name, entry in LOSSES.items() if entry.hparams)
    p.add_argument("--loss", default=DEFAULT_LOSS, help=" | ".join(LOSSES))
    p.add_argument("--alpha", type=float, default=1.0, help=f"weight on the true class (>= 1; loss {takers})")
    p.add_argument("--M", type=float, default=1.0, help=f"target on the true class (>= 1; loss {takers})")
    p.add_argument("--K", default="10", help="number of classes (integer >= 2) or inf for the K -> infinity limit")
    p.add_argument("--lambda-H", dest="lambda_H", type=float, default=0.0,
                   help="weight decay lambda_H/2 s^2 added to the feature's loss (default 0, as in the paper)")
    p.add_argument("--s", default=None, help="LIST of s = ||h|| values (default 0:2M:81, ce: 0:6:81); "
                   "LIST = comma-separated numbers and/or LO:HI:NUM")
    p.add_argument("--theta", default="-pi:pi:121", help="LIST of angles in radians, pi allowed (default -pi:pi:121; write --theta=-pi:pi:121 when the value starts with -)")
    p.add_argument("--grad", action="store_true", help="add grad_s and grad_theta (per radian) grids to the JSON")
    p.add_argument("--x64", action="store_true", help="compute in float64 (default float32)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="write a PNG of the landscape with its gradient field")
    p.add_argument("--view", default="chart", help="--out drawing: chart (theta, s axes) or plane (the feature's plane)")
    p.add_argument("--arrows", default="norm",
                   help="--out arrows: norm (length proportional to the gradient norm, as the paper's Fig. 8) or unit")


def _check(args):
    import math

    from nclandscape.errors import ConfigError
    from nclandscape.landscape.grids import parse_K, parse_list
    from nclandscape.landscape.polar import check_loss
    from nclandscape.objectives import loss_of

    check_loss(args.loss)
    entry = loss_of(args.loss)
    K = parse_K(args.K)
    if getattr(args, "view", "chart") not in ("chart", "plane"):
        raise ConfigError(f"--view {args.view!r} is not allowed: choose chart or plane")
    if getattr(args, "arrows", "norm") not in ("norm", "unit"):
        raise ConfigError(f"--arrows {args.arrows!r} is not allowed: choose norm or unit")
    entry.check_hparams(where="--", alpha=args.alpha, M=args.M)
    if not math.isfinite(args.lambda_H) or args.lambda_H < 0:
        raise ConfigError(f"--lambda-H {args.lambda_H!r}: give a finite value >= 0")
    entry.check_hparams(where="--", strict=True, alpha=args.alpha, M=args.M)
    if args.s is None:
        scale = 2.0 * args.M if entry.polar_s_max is None else entry.polar_s_max
        s = parse_list(f"0:{scale}:81", what="--s")
    else:
        s = parse_list(args.s, what="--s")
    if (s < 0).any():
        raise ConfigError(f"--s {args.s!r}: s = ||h|| must be >= 0")
    theta = parse_list(args.theta, what="--theta")
    if getattr(args, "out", None) and (s.size < 2 or theta.size < 2):
        raise ConfigError("--out draws contours: give at least 2 values of --s and of --theta")
    from nclandscape.validate import INT32_MAX, check_memory, check_out_file

    if getattr(args, "out", None) is not None:
        check_out_file("--out", args.out)
    if not math.isinf(K) and K > INT32_MAX:
        raise ConfigError(f"--K {args.K}: give an integer <= {INT32_MAX} (int32 limit) or inf")
    if s.size * theta.size > INT32_MAX:
        raise ConfigError(f"--s x --theta = {s.size * theta.size} grid points: give at most {INT32_MAX} (int32 limit)")
    itemsize = 8 if getattr(args, "x64", False) else 4
    k_eff = 2 if math.isinf(K) else K
    # The unit-row simplex ETF (K x K), then per grid point the K logits, their gradient and
    # temporaries, and the float64 JSON copy of the (s, theta) grids.
    nbytes = 3 * 8 * k_eff * k_eff + s.size * theta.size * (6 * k_eff * itemsize + 3 * 8)
    check_memory(f"a {s.size} x {theta.size} landscape at K={args.K}", nbytes,
                 "give fewer --s/--theta values or a smaller --K")
    return K, s, theta


validate = _check


def compute(args):
    """``(out dict, PolarGrid)`` for parsed arguments (used by ``main`` and the experiments)."""
    import math

    import jax
    import jax.numpy as jnp
    import numpy as np

    from nclandscape.landscape.polar import plane_for, polar_landscape
    from nclandscape.objectives import loss_of
    from nclandscape.ufm import make_hparams

    K, s, theta = _check(args)
    entry = loss_of(args.loss)
    dtype = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    eff = entry.effective(alpha=args.alpha, M=args.M)
    alpha, M = eff["alpha"], eff["M"]
    hp = make_hparams(0.0, args.lambda_H, 0.0, alpha, M, dtype=dtype)
    fn = jax.jit(lambda s, t, plane, hp: polar_landscape(s, t, plane, hp, loss=args.loss))
    grid = jax.block_until_ready(fn(jnp.asarray(s, dtype), jnp.asarray(theta, dtype), plane_for(K, dtype=dtype), hp))
    out = {
        "s": s.tolist(),
        "theta": theta.tolist(),
        "loss": np.asarray(grid.loss, np.float64).tolist(),
        "K": "inf" if math.isinf(K) else K,
        "loss_name": args.loss,
        "alpha": alpha,
        "M": M,
        "lambda_H": args.lambda_H,
        "offset": (f"{entry.limit_offset} subtracted (K -> inf limit of {entry.label})"
                   if (math.isinf(K) and entry.limit is not None) else None),
        "dtype": jnp.dtype(dtype).name,
    }
    if args.grad:
        out["grad_s"] = np.asarray(grid.grad_s, np.float64).tolist()
        out["grad_theta"] = np.asarray(grid.grad_theta, np.float64).tolist()
    return out, grid


def title_of(out) -> str:
    from nclandscape.objectives import loss_of

    name = out["loss_name"]
    entry = loss_of(name)
    if entry.hparams:
        name = f"{entry.label} ({', '.join(f'{h}={out[h]:g}' for h in entry.hparams)})"
    elif entry.limit is not None and out["offset"]:
        name = f"{entry.label} - {entry.limit_offset}"
    t = f"{name}, K={out['K']}"
    if out["lambda_H"]:
        t += f", lambda_H={out['lambda_H']:g}"
    return t


def main(args) -> int:
    import numpy as np

    out, grid = compute(args)
    if args.out:
        from nclandscape.landscape import plots

        fig, axes = plots.figure()
        draw = plots.plot_plane if args.view == "plane" else plots.plot_polar
        draw(axes[0, 0], out["s"], out["theta"], out["loss"], np.asarray(grid.grad_s),
             np.asarray(grid.grad_theta), title=title_of(out), arrow_length=args.arrows)
        plots.save(fig, args.out)
    if args.json:
        print_json(out)
    else:
        L = np.asarray(out["loss"])
        i, j = np.unravel_index(np.nanargmin(L), L.shape)
        print(f"{title_of(out)}: {L.shape[0]} x {L.shape[1]} grid (s x theta), {out['dtype']}")
        print(f"  loss range [{np.nanmin(L):.6g}, {np.nanmax(L):.6g}]; grid minimum {L[i, j]:.6g} at s={out['s'][i]:.4g}, theta={out['theta'][j]:.4g}")
        if args.out:
            print(f"  wrote {args.out}")
    return 0
