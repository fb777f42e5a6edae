"""``nclandscape decompose FILE.npz``: the five-term MSE decomposition of a saved point."""
from __future__ import annotations

NAME = "decompose"
HELP = "the five-term MSE decomposition (Han, Papyan & Donoho) of a saved point W, H, b"
DESCRIPTION = """Read W (K x d), H (d x N, columns grouped by class: class 0's samples, then class 1's, ...)
and b (K) from FILE.npz (as written by `nclandscape solve --save`) and print
f = L_nc1_within + L_nc1_ridge + L_nc23 + L_perp + L_features for vanilla MSE with the given
weight decays, computed in float64 (docs/central_path.md)."""


def add_arguments(p):
    p.add_argument("file", help="a .npz file with arrays W, H, b")
    p.add_argument("--lambda-W", dest="lambda_W", type=float, default=1e-3, help="weight decay on W (>= 0)")
    p.add_argument("--lambda-H", dest="lambda_H", type=float, default=1e-3, help="weight decay on H (>= 0)")
    p.add_argument("--lambda-b", dest="lambda_b", type=float, default=1e-3, help="weight decay on b (>= 0)")
    p.add_argument("--no-bias", dest="bias", action="store_false", help="the no-bias problem (b is ignored)")
    p.add_argument("--class-sizes", default=None, help="comma-separated samples per class (default: N/K each)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def load_point(path: str, class_sizes: str | None):
    """``(W, H, b, sizes)`` of a saved point, validated."""
    import numpy as np

    from nclandscape.errors import ConfigError

    with np.load(path) as z:
        missing = [k for k in ("W", "H", "b") if k not in z.files]
        if missing:
            raise ConfigError(f"{path}: missing array(s) {', '.join(missing)}; the file needs W (K x d), H (d x N), b (K)")
        W, H, b = (np.asarray(z[k], np.float64) for k in ("W", "H", "b"))
    if W.ndim != 2 or H.ndim != 2 or b.shape != (W.shape[0],) or H.shape[0] != W.shape[1]:
        raise ConfigError(f"{path}: shapes W {W.shape}, H {H.shape}, b {b.shape} do not fit; "
                          "need W (K, d), H (d, N), b (K,)")
    K, N = W.shape[0], H.shape[1]
    if class_sizes:
        try:
            sizes = [int(x) for x in class_sizes.split(",")]
        except ValueError:
            raise ConfigError(f"--class-sizes {class_sizes!r}: give comma-separated integers") from None
        if len(sizes) != K or sum(sizes) != N or min(sizes) < 1:
            raise ConfigError(f"--class-sizes {class_sizes}: give K={K} positive integers summing to N={N}")
    else:
        if N % K:
            raise ConfigError(f"{path}: N={N} samples do not split into K={K} equal classes; give --class-sizes")
        sizes = [N // K] * K
    for name, v in (("W", W), ("H", H), ("b", b)):
        if not np.isfinite(v).all():
            raise ConfigError(f"{path}: {name} has non-finite entries")
    return W, H, b, sizes


def main(args) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from nclandscape.central_path import decomposition, perp_over_f
    from nclandscape.commands._common import print_json
    from nclandscape.errors import ConfigError
    from nclandscape.ufm import make_data, make_hparams

    for name in ("lambda_W", "lambda_H", "lambda_b"):
        v = getattr(args, name)
        if not (v >= 0 and v != float("inf")):
            raise ConfigError(f"--{name.replace('_', '-')} {v}: weight decay must be a finite number >= 0")
    W, H, b, sizes = load_point(args.file, args.class_sizes)
    K, d = W.shape
    data = make_data(K, 0, d, class_sizes=sizes, bias=args.bias, dtype=jnp.float64)
    hp = make_hparams(args.lambda_W, args.lambda_H, args.lambda_b, dtype=jnp.float64)
    t = decomposition(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b) * data.bias, data.Y, hp, bias=data.bias)
    out = {"K": K, "N": int(H.shape[1]), "d": d, "bias": bool(args.bias), **t.as_json(),
           "f": float(t.total), "L_perp_over_f": float(perp_over_f(t))}
    if args.json:
        print_json(out)
    else:
        print(f"{args.file}: K={K} N={out['N']} d={d} bias={args.bias}  f = {out['f']:.12g}")
        for k in ("L_nc1_within", "L_nc1_ridge", "L_nc23", "L_perp", "L_features"):
            print(f"  {k:13s} {out[k]:.12g}")
        print(f"  L_perp / f    {out['L_perp_over_f']:.3e}")
    return 0
