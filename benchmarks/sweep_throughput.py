"""Sweep-engine throughput: configuration-steps per second against a per-configuration loop.

    python benchmarks/sweep_throughput.py                # K=10, n=100, d=64, GD, B in {256, 4096}
    python benchmarks/sweep_throughput.py --B 256 --steps 50 100

What is timed (float32, compile excluded, min and median of --repeats):
- engine: the sweep engine's compiled chunk program (the one `nclandscape sweep` runs: vmapped
  over B configurations, sharded over the local devices, GD with per-configuration stopping
  switched off by tol = 0). The marginal cost of a step is measured as the time difference
  between two step counts (--steps S1 S2), which removes initialisation and the NC metrics;
- baseline, in the same run: the papers' way, one configuration at a time, a jitted GD step
  called from a Python loop (`nclandscape.solve.make_step`), on a few configurations;
- roofline: a GD step must read H twice and write it once, 12·d·N bytes per configuration-step in
  float32; the bandwidth is measured in the same run with a streaming copy (a + b -> c over
  256 MiB), or given with --bandwidth (bytes/s, e.g. 3.35e12 for an H100 SXM).
Prints one line per B with the ratio to the loop and the fraction of the roofline.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def measure_bandwidth(repeats=5, mib=256):
    n = mib * 2**20 // 4
    a = jnp.ones((n,), jnp.float32)
    b = jnp.ones((n,), jnp.float32)
    f = jax.jit(lambda a, b: a + b)
    jax.block_until_ready(f(a, b))
    tmin, _ = timed(lambda: f(a, b), repeats)
    return 3 * n * 4 / tmin  # read a, read b, write c


def engine_rate(B, K, n, d, steps, repeats):
    from nclandscape.sweep.engine import _mesh, run_chunk
    from nclandscape.sweep.plan import Bucket

    configs = [dict(K=K, n=n, d=d, lambda_W=1e-3, lambda_H=1e-3, lambda_b=1e-3, alpha=1.0, M=1.0, bias=True,
                    lr=0.05, tol=0.0, steps_max=s, seed=i, scale=1.0) for i in range(B) for s in [0]]
    bucket = Bucket("mse", "gd", K, K * n, d, "full")
    times = {}
    for S in steps:
        cs = [dict(c, steps_max=S) for c in configs]
        run_chunk(bucket, cs, jnp.float32, chunk=B)  # compile (same program for every S)
        times[S] = timed(lambda: run_chunk(bucket, cs, jnp.float32, chunk=B), repeats)
    (s1, (t1, m1)), (s2, (t2, m2)) = sorted(times.items())
    per_step_min = (t2 - t1) / (s2 - s1)
    per_step_med = (m2 - m1) / (s2 - s1)
    return B / per_step_min, B / per_step_med, _mesh().devices.size


def loop_rate(K, n, d, steps, n_configs):
    from nclandscape.objectives import mse_objective
    from nclandscape.solve import init_opt_state, make_optimizer, make_step, tree_norm
    from nclandscape.ufm import Problem, init_params

    total, t_all = 0, 0.0
    for i in range(n_configs):
        p = Problem(K=K, n=n, d=d, lambda_W=1e-3 * (1 + i), lambda_H=1e-3, lambda_b=1e-3)
        data, hp = p.data(dtype=jnp.float32), p.hparams(dtype=jnp.float32)
        opt = make_optimizer("gd")
        step, vg = make_step(mse_objective, data, hp, opt, "gd")
        step = jax.jit(step)
        from nclandscape.solve import SolveState

        p0 = init_params(jax.random.PRNGKey(i), data)
        v, g = vg(p0)
        s = SolveState(p0, init_opt_state(opt, "gd", p0, 0.05), jnp.asarray(0), v, g, tree_norm(g))
        s = jax.block_until_ready(step(s))  # compile (once per configuration, as a script would)
        t0 = time.perf_counter()
        for _ in range(steps):
            s = step(s)
            float(s.value)  # the papers' loops read the loss every step
        t_all += time.perf_counter() - t0
        total += steps
    return total / t_all


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--B", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--steps", type=int, nargs=2, default=[20, 60], help="two step counts S1 < S2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-configs", type=int, default=3)
    ap.add_argument("--loop-steps", type=int, default=200)
    ap.add_argument("--bandwidth", type=float, default=None, help="bytes/s (default: measured)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    N = a.K * a.n
    bw = a.bandwidth or measure_bandwidth()
    roof = bw / (12 * a.d * N)
    loop = loop_rate(a.K, a.n, a.d, a.loop_steps, a.loop_configs)
    device = jax.devices()[0].device_kind
    print(f"device: {device} x{len(jax.devices())}; K={a.K} n={a.n} d={a.d} GD float32; "
          f"bandwidth {bw / 1e9:.1f} GB/s -> roofline {roof:.3g} config-steps/s; per-config loop {loop:.3g} config-steps/s")
    rows = []
    for B in a.B:
        best, med, ndev = engine_rate(B, a.K, a.n, a.d, a.steps, a.repeats)
        row = dict(B=B, engine_best=best, engine_median=med, loop=loop, ratio_to_loop=best / loop,
                   roofline=roof, fraction_of_roofline=best / roof, devices=ndev, device=device)
        rows.append(row)
        print(f"B={B:5d}: engine {best:.3g} config-steps/s (median {med:.3g}), {best / loop:.1f}x the loop, "
              f"{100 * best / roof:.0f}% of the memory roofline")
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
