"""Hessian benchmarks: structured exact spectrum vs its baselines, and the dense path vmapped.

    .venv/bin/python benchmarks/hessian_bench.py                 # CPU defaults (~3-6 min on 2 cores)
    .venv/bin/python benchmarks/hessian_bench.py --configs 256   # the GPU measurement

1. Structured exact spectrum at a class-collapsed point of K=10, n=1000, d=16 (P = 160,170), vs
   two baselines measured in the same run: 100-step Lanczos on HVPs at the same point (the only
   other method that fits at this P), and the dense path at a P ≈ 2,000 problem (K=10, n=12, d=15),
   where structured is also timed so that the ratio compares the same problem.
2. The dense path (P forward-over-reverse HVPs + eigh) vmapped over ``--configs`` configurations
   of P = 1,960 (different λ's and random points), versus the same configurations one by one with
   ``lax.map`` (sequential) as the baseline.
Compile first, then ``--repeats`` timed runs with ``block_until_ready``; min and median reported.
Float64 throughout. Writes a JSON line per measurement to ``--out`` if given.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

from nclandscape.hessian import dense_spectrum, lanczos_spectrum, structured_spectrum  # noqa: E402
from nclandscape.objectives import objective_for  # noqa: E402
from nclandscape.ufm import init_params, make_data, make_hparams  # noqa: E402


def timed(fn, *args, repeats=3):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return {"compile_s": compile_s, "min_s": min(ts), "median_s": statistics.median(ts)}


def collapsed_point(key, data, n):
    p = init_params(key, data, scale=0.3)
    return p._replace(H=jnp.repeat(p.H[:, ::n], n, axis=1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=8, help="configurations vmapped in part 2 (issue: 256, GPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-vmap", action="store_true", help="only part 1")
    ap.add_argument("--out", default=None, help="append JSON lines here")
    args = ap.parse_args(argv)
    obj = objective_for("mse")
    hp = make_hparams(1e-3, 1e-3, 1e-3)
    dev = jax.devices()[0]
    rows = []

    def report(name, r, **extra):
        row = {"bench": name, "device": f"{dev.platform}:{dev.device_kind}", **extra, **r}
        rows.append(row)
        print(json.dumps(row), flush=True)

    # ---- 1. structured at P = 160,170 vs Lanczos there, and vs dense at P ≈ 2,000
    K, n, d = 10, 1000, 16
    data = make_data(K, n, d)
    p = collapsed_point(jax.random.PRNGKey(0), data, n)
    P = K * d + d * K * n + K
    st = jax.jit(lambda p: structured_spectrum(obj, p, data, hp))
    r_st = timed(st, p, repeats=args.repeats)
    report("structured", r_st, K=K, n=n, d=d, P=P)
    lz = jax.jit(lambda p: lanczos_spectrum(obj, p, data, hp, num_steps=100))
    r_lz = timed(lz, p, repeats=args.repeats)
    report("lanczos100 (baseline)", r_lz, K=K, n=n, d=d, P=P)
    print(f"  -> Lanczos-100 / structured at P={P}: {r_lz['median_s'] / r_st['median_s']:.1f}x", flush=True)

    K2, n2, d2 = 10, 12, 15
    data2 = make_data(K2, n2, d2)
    p2 = collapsed_point(jax.random.PRNGKey(1), data2, n2)
    P2 = K2 * d2 + d2 * K2 * n2 + K2
    r_st2 = timed(jax.jit(lambda p: structured_spectrum(obj, p, data2, hp)), p2, repeats=args.repeats)
    report("structured", r_st2, K=K2, n=n2, d=d2, P=P2)
    r_de2 = timed(jax.jit(lambda p: dense_spectrum(obj, p, data2, hp)), p2, repeats=args.repeats)
    report("dense (baseline)", r_de2, K=K2, n=n2, d=d2, P=P2)
    print(f"  -> dense / structured at P={P2}: {r_de2['median_s'] / r_st2['median_s']:.0f}x", flush=True)

    if not args.skip_vmap:
        # ---- 2. dense vmapped over configurations, P = 1,960
        B = args.configs
        lws = jnp.logspace(-4, -1, B)
        keys = jax.random.split(jax.random.PRNGKey(2), B)

        def one(lw, key):
            h = make_hparams(lw, 1e-3, 1e-3)
            q = init_params(key, data2, scale=0.3)
            s = dense_spectrum(obj, q, data2, h)
            return s.values[0], s.values

        vm = jax.jit(jax.vmap(one))
        r_vm = timed(vm, lws, keys, repeats=max(1, args.repeats - 1))
        report("dense vmapped", r_vm, P=P2, configs=B, per_config_s=r_vm["median_s"] / B)
        seq = jax.jit(lambda lws, keys: jax.lax.map(lambda a: one(*a), (lws, keys)))
        r_seq = timed(seq, lws, keys, repeats=max(1, args.repeats - 1))
        report("dense lax.map sequential (baseline)", r_seq, P=P2, configs=B, per_config_s=r_seq["median_s"] / B)
        print(f"  -> sequential / vmapped, {B} configs of P={P2}: {r_seq['median_s'] / r_vm['median_s']:.2f}x", flush=True)
    if args.out:
        with open(args.out, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
