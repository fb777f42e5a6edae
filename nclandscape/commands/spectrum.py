"""``nclandscape spectrum``: draw the Hessian spectrum of one problem at a point (PNG)."""
from __future__ import annotations

from nclandscape.commands._common import print_json

NAME = "spectrum"
HELP = "draw the Hessian spectrum (multiplicities, density, negative part in red) at a point"


def add_arguments(p):
    from nclandscape.commands._common import add_problem_args
    from nclandscape.commands.hessian import add_point_args

    add_problem_args(p)
    add_point_args(p)
    p.add_argument("--out", required=True, help="output image (PNG)")
    p.add_argument("--slq-probes", type=int, default=8, help="probes of the SLQ density (method lanczos)")


IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def validate(args):
    """Every check of ``spectrum``, before any work: ``hessian``'s checks, the probes and --out."""
    import os

    from nclandscape.commands.hessian import validate as validate_hessian
    from nclandscape.errors import ConfigError
    from nclandscape.validate import check_int, check_out_file

    out = check_out_file("--out", args.out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ConfigError(f"--out {args.out!r}: give an image file ending in {', '.join(IMAGE_SUFFIXES)}")
    d = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(d):
        raise ConfigError(f"--out {args.out}: folder {d} does not exist")
    check_int("--slq-probes", args.slq_probes, lo=1)
    return validate_hessian(args)


def main(args) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from nclandscape.commands.hessian import report
    from nclandscape.hessian.plots import plot_spectrum

    validate(args)
    out = report(args)
    dens = None
    if out["method"] == "lanczos":
        from jax.flatten_util import ravel_pytree

        from nclandscape.hessian.dense import flat_hvp, flat_mask
        from nclandscape.hessian.lanczos import density, slq
        from nclandscape.objectives import objective_for
        from nclandscape.commands._common import problem_from_args
        from nclandscape.points import point_at

        prob = problem_from_args(args)
        dtype = jnp.float64 if args.x64 else jnp.float32
        params, _, _ = point_at(prob, args.at, dtype=dtype, seed=args.seed, optimizer=args.optimizer, steps=args.steps)
        data, hp = prob.data(dtype=dtype), prob.hparams(dtype=dtype)
        mv = flat_hvp(objective_for(prob.loss), params, data, hp)
        P = ravel_pytree(params)[0].shape[0]
        q = slq(mv, P, min(args.lanczos_steps, P), args.slq_probes, jax.random.PRNGKey(args.seed), mask=flat_mask(data, dtype), dtype=dtype)
        lo, hi = out["min_eig"], out["max_eig"]
        pad = 0.05 * (hi - lo + 1e-12)
        grid = np.linspace(lo - pad, hi + pad, 400)
        dens = (grid, np.asarray(density(q, jnp.asarray(grid, dtype), sigma=(hi - lo + 1e-12) / 100)))
    title = (f"{out['loss']} K={out['K']} n={out['n']} d={out['d']} bias={out['bias']} at {out['at']} "
             f"({out['method']}): min {out['min_eig']:.3g}, index {out['index']}")
    plot_spectrum(out["eigenvalues"], args.out, title=title, density=dens, index_rtol=out["index_rtol"],
                  rtol=10 * out["index_rtol"])
    summary = {k: out[k] for k in ("K", "n", "d", "loss", "bias", "at", "method", "P", "min_eig", "index", "grad_norm", "classification")}
    summary["out"] = args.out
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out}: {out['method']} spectrum, min eig {out['min_eig']:.6g}, index {out['index']}")
    return 0
