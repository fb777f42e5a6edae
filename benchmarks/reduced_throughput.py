"""Configuration-steps per second: reduced vs full engine, full-batch GD on vanilla MSE.

    .venv/bin/python benchmarks/reduced_throughput.py                 # K=10 d=64 B=4096 n=100,10000
    .venv/bin/python benchmarks/reduced_throughput.py --B 512         # smaller batch (2-core CPU)

Three engines run B configurations (own learning rate, own λ's, own start), compiled first, timed
with ``block_until_ready`` over ``--repeats`` calls (min and median reported):

- ``full``: ``jit(vmap(step))`` of ``nclandscape.solve.make_step`` (optax GD on ``Params``, the H
  of every sample in memory) inside a ``lax.fori_loop`` of ``--steps`` steps;
- ``reduced``: the same with ``nclandscape.reduced.make_reduced_step`` on ``ReducedParams``;
- ``fused``: ``vmap`` of ``nclandscape.reduced.fused.fused_reduced_solve`` with ``tol = 0`` and
  ``max_steps = --steps``: the whole loop of a configuration in one program (on a GPU one Pallas
  Triton kernel whose grid is the B configurations; ``--fused-variants`` times several
  precision/warp settings of it in the same run).

The full engine's batch is capped by ``--full-mem-gb`` (its state grows like B·d·N); the script
says when it did so.

Beside the measured numbers it prints the full engine's *roofline*: the config-steps/s it could
reach at best on this machine, from the bytes it must move (read and write H once per step, the
minimum for any implementation) and the flops it must do (three K×d×N products), against memory
bandwidth and matmul rate measured in the same run. Output: a table on stdout, and one JSON line
per measurement with ``--json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--K", type=int, default=10)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--B", type=int, default=4096, help="configurations per batch (4096 by default)")
    p.add_argument("--ns", default="100,10000", help="comma-separated samples per class")
    p.add_argument("--steps", type=int, default=10, help="GD steps per timed call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--full-mem-gb", type=float, default=2.0, help="memory budget of the full engine's batch")
    p.add_argument("--x64", action="store_true", help="float64 (default float32, as on a GPU)")
    p.add_argument("--json", action="store_true", help="also print one JSON object per measurement")
    p.add_argument("--engines", default="fused,reduced,full",
                   help="comma-separated subset of fused (hand-written loop, one Pallas kernel on GPU), "
                        "reduced (optax on the reduced pytree), full")
    p.add_argument("--fused-backend", default="auto", help="auto (pallas on GPU, xla elsewhere), xla or pallas")
    p.add_argument("--fused-variants", default="highest/8/16",
                   help="comma-separated PRECISION/WARPS/D_BLOCK of the fused GPU kernel to time, each its own "
                        "row (precision highest, tf32x3 or default = one TF32 pass on NVIDIA GPUs; D_BLOCK: "
                        "columns of D per block; e.g. highest/8/16,highest/4/16,tf32x3/8/16,default/8/16)")
    return p.parse_args(argv)


def _time(fn, *args, repeats):
    import jax

    jax.block_until_ready(fn(*args))  # compile + warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def machine_rates(dtype, repeats):
    """Memory bandwidth (bytes/s, reading a 256 MiB array: a reduction, so no output buffer is
    allocated and page-faulted per call) and matmul rate (flop/s)."""
    import jax
    import jax.numpy as jnp

    x = jnp.ones((1 << 28) // jnp.dtype(dtype).itemsize, dtype)
    tmin, _ = _time(jax.jit(jnp.sum), x, repeats=repeats)
    bandwidth = x.nbytes / tmin
    a = jnp.ones((2048, 2048), dtype)
    tmin, _ = _time(jax.jit(lambda a: a @ a), a, repeats=repeats)
    return bandwidth, 2 * 2048**3 / tmin


def full_engine(K, n, d, B, steps, dtype):
    """jit(vmap(make_step)) GD on full Params, `steps` steps per call."""
    import jax
    import jax.numpy as jnp

    from nclandscape.objectives import mse_objective
    from nclandscape.solve import SolveState, init_opt_state, make_optimizer, make_step, tree_norm
    from nclandscape.ufm import Params, make_data, make_hparams

    data = make_data(K, n, d, dtype=dtype)
    opt = make_optimizer("gd")
    N = K * n

    def init(key, lr, lam):
        kW, kH, kb = jax.random.split(key, 3)
        hp = make_hparams(lam, lam, lam, dtype=dtype)
        p = Params(0.1 * jax.random.normal(kW, (K, d), dtype), 0.1 * jax.random.normal(kH, (d, N), dtype),
                   0.1 * jax.random.normal(kb, (K,), dtype))
        v, g = jax.value_and_grad(mse_objective)(p, data, hp)
        return SolveState(p, init_opt_state(opt, "gd", p, lr), jnp.asarray(0), v, g, tree_norm(g)), hp

    def one_step(s, hp):
        return make_step(mse_objective, data, hp, opt, "gd")[0](s)

    def run(s, hp):
        return jax.lax.fori_loop(0, steps, lambda _, s: jax.vmap(one_step)(s, hp), s)

    keys = jax.random.split(jax.random.PRNGKey(0), B)
    lrs = jnp.linspace(0.05, 0.2, B, dtype=dtype)
    lams = jnp.geomspace(1e-4, 1e-2, B).astype(dtype)
    s0, hp = jax.jit(jax.vmap(init))(keys, lrs, lams)
    return jax.jit(run), (s0, hp)


def reduced_engine(K, n, d, B, steps, dtype):
    """jit(vmap(make_reduced_step)) GD on ReducedParams (directly sampled start)."""
    import jax
    import jax.numpy as jnp

    from nclandscape.reduced import make_reduced_data, make_reduced_step, reduced_init, reduced_objective
    from nclandscape.solve import SolveState, init_opt_state, make_optimizer, tree_norm
    from nclandscape.ufm import make_hparams

    rdata0 = make_reduced_data(K, n, d, dtype=dtype)
    opt = make_optimizer("gd")

    def init(key, lr, lam):
        hp = make_hparams(lam, lam, lam, dtype=dtype)
        rp, rdata = reduced_init(key, rdata0, scale=0.1, loss="mse")
        v, g = jax.value_and_grad(reduced_objective)(rp, rdata, hp)
        return SolveState(rp, init_opt_state(opt, "gd", rp, lr), jnp.asarray(0), v, g, tree_norm(g)), hp, rdata

    def one_step(s, hp, rdata):
        return make_reduced_step(rdata, hp, opt, "gd")[0](s)

    def run(s, hp, rdata):
        return jax.lax.fori_loop(0, steps, lambda _, s: jax.vmap(one_step)(s, hp, rdata), s)

    keys = jax.random.split(jax.random.PRNGKey(0), B)
    lrs = jnp.linspace(0.05, 0.2, B, dtype=dtype)
    lams = jnp.geomspace(1e-4, 1e-2, B).astype(dtype)
    s0, hp, rdata = jax.jit(jax.vmap(init))(keys, lrs, lams)
    return jax.jit(run), (s0, hp, rdata)


def fused_engine(K, n, d, B, steps, dtype, backend="auto", precision="highest", num_warps=8, d_block=16):
    """``vmap`` of :func:`nclandscape.reduced.fused.fused_reduced_solve`: the whole ``steps``-step
    loop of each configuration in one fused program (one Pallas kernel per batch on a GPU), with
    ``tol = 0`` so every configuration runs exactly ``steps`` steps (plus the final gradient check)."""
    import jax
    import jax.numpy as jnp

    from nclandscape.reduced import make_reduced_data, reduced_init
    from nclandscape.reduced.fused import fused_reduced_solve
    from nclandscape.ufm import make_hparams

    rdata0 = make_reduced_data(K, n, d, dtype=dtype)

    def init(key, lr, lam):
        rp, rdata = reduced_init(key, rdata0, scale=0.1, loss="mse")
        return rp, rdata, make_hparams(lam, lam, lam, dtype=dtype), lr

    def one(rp, rdata, hp, lr):
        return fused_reduced_solve(rp, rdata, hp, optimizer="gd", lr=lr, max_steps=steps, tol=0.0, backend=backend,
                                   precision=precision, num_warps=num_warps, d_block=d_block)

    keys = jax.random.split(jax.random.PRNGKey(0), B)
    lrs = jnp.linspace(0.05, 0.2, B, dtype=dtype)
    lams = jnp.geomspace(1e-4, 1e-2, B).astype(dtype)
    state = jax.jit(jax.vmap(init))(keys, lrs, lams)
    return jax.jit(jax.vmap(one)), state


ENGINES = ("fused", "reduced", "full")


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    dtype = jnp.float64 if args.x64 else jnp.float32
    item = jnp.dtype(dtype).itemsize
    K, d, B, T = args.K, args.d, args.B, args.steps
    dev = jax.devices()[0]
    bw, flops = machine_rates(dtype, args.repeats)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {platform.node()}  {dev.platform}:{dev.device_kind}  "
          f"{jax.device_count()} device(s), {dtype.__name__ if hasattr(dtype, '__name__') else dtype}")
    print(f"# measured: memory bandwidth {bw / 1e9:.1f} GB/s, matmul {flops / 1e9:.1f} GFLOP/s")
    print(f"# K={K} d={d} B={B} steps/call={T} repeats={args.repeats}")
    print(f"{'n':>7} {'engine':>8} {'B':>6} {'cfg-steps/s (best)':>19} {'(median)':>10} {'full roofline':>14} {'ratio':>8}")
    ns = [int(x) for x in args.ns.split(",")]
    names = [e for e in args.engines.split(",") if e]
    bad = [e for e in names if e not in ENGINES]
    if bad:
        raise SystemExit(f"--engines: unknown {bad}; choose from {', '.join(ENGINES)}")
    from nclandscape.reduced.fused import resolve_backend

    fused_backend = resolve_backend(args.fused_backend)
    print(f"# fused backend: {fused_backend}")
    variants = [v.split("/") for v in args.fused_variants.split(",") if v]
    if any(len(v) != 3 for v in variants):
        raise SystemExit("--fused-variants: give PRECISION/WARPS/D_BLOCK items, e.g. highest/8/16")
    if "fused" in names and len(variants) > 1:
        i = names.index("fused")
        names[i:i + 1] = [f"fused:{p}/{w}/{c}" for p, w, c in variants]
    engines = []  # (n, name, B, fn, state): built (and compiled) first, timed round-robin below
    for n in ns:
        # Full engine: H, its gradient and the step's temporaries (~4 copies of d·N) per config.
        B_full = max(1, min(B, int(args.full_mem_gb * 2**30 // (4 * d * K * n * item))))
        builders = {"reduced": (reduced_engine, B), "full": (full_engine, B_full)}
        for p, w, c in variants:
            key = "fused" if len(variants) == 1 else f"fused:{p}/{w}/{c}"
            builders[key] = (lambda *a, p=p, w=w, c=c: fused_engine(*a, backend=fused_backend, precision=p,
                                                                    num_warps=int(w), d_block=int(c)), B)
        for name in names:
            build, Bn = builders[name]
            fn, state = build(K, n, d, Bn, T, dtype)
            jax.block_until_ready(fn(*state))  # compile + warm-up
            engines.append((n, name, Bn, fn, state))
    # Round-robin repeats: every engine sees the same machine load (others share this machine).
    times = {(n, name): [] for n, name, *_ in engines}
    for _ in range(args.repeats):
        for n, name, Bn, fn, state in engines:
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*state))
            times[(n, name)].append(time.perf_counter() - t0)
    rows = []
    for n in ns:
        N = K * n
        # The full engine's roofline: read + write H once per step, or 6·K·d·N flops, whichever is slower.
        roofline = 1.0 / max(2 * d * N * item / bw, 6 * K * d * N / flops)
        res = {}
        for n_, name, Bn, *_ in engines:
            if n_ == n:
                ts = times[(n, name)]
                res[name] = dict(n=n, engine=name, B=Bn, best=Bn * T / min(ts), median=Bn * T / statistics.median(ts),
                                 full_roofline=roofline)
        for name in names:
            r = res[name]
            ratio = r["best"] / roofline
            capped = " (B capped by --full-mem-gb)" if name == "full" and r["B"] < B else ""
            print(f"{n:>7} {name:>8} {r['B']:>6} {r['best']:>19.4g} {r['median']:>10.4g} {roofline:>14.4g} "
                  f"{ratio:>7.3g}x{capped}")
            r["ratio_to_full_roofline"] = ratio
            rows.append(r)
        if "full" in res:
            for name in names:
                if name != "full":
                    print(f"{'':>7} {name} / full measured: {res[name]['best'] / res['full']['best']:.3g}x")
    from nclandscape.reduced.fused import fused_flops_per_step

    for r in rows:
        if r["engine"].startswith("fused"):
            fl = fused_flops_per_step(K, d, padded=fused_backend in ("pallas", "interpret"))
            r["flops_per_step"] = fl
            print(f"# {r['engine']} n={r['n']}: {fl * r['best'] / 1e9:.4g} GFLOP/s in its products "
                  f"({fl} flop/step{' with K, d padded to powers of two >= 16' if fused_backend != 'xla' else ''}), "
                  f"{100 * fl * r['best'] / flops:.3g}% of the measured matmul rate")
    for name in names:
        red = [r for r in rows if r["engine"] == name]
        if len(red) > 1:
            print(f"# {name} throughput at n={red[-1]['n']} / n={red[0]['n']}: {red[-1]['best'] / red[0]['best']:.3f}")
    if args.json:
        for r in rows:
            print(json.dumps({**r, "K": K, "d": d, "steps": T, "dtype": jnp.dtype(dtype).name,
                              "device": dev.device_kind, "bandwidth": bw, "flops": flops,
                              "fused_backend": fused_backend}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
