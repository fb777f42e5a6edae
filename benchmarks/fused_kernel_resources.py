"""Registers, spills and shared memory of the fused reduced kernel on Hopper, without a GPU.

    python benchmarks/fused_kernel_resources.py                        # K=10 d=64, every variant
    python benchmarks/fused_kernel_resources.py --variants gd/highest/8/16 momentum/highest/8/16

For each OPTIMIZER/PRECISION/WARPS/D_BLOCK variant it lowers ``fused_reduced_solve``'s Pallas kernel for
CUDA (JAX builds the Triton IR on any machine), compiles that IR to PTX for sm_90 with the
``triton`` package, and assembles the PTX with CUDA's ``ptxas -v``, which reports registers per
thread, spill bytes and the stack frame. Spills and the register count (which caps how many
programs share a multiprocessor: 65,536 registers per SM) are what decide ``num_warps`` before any
GPU time is spent; the speed itself is measured by ``benchmarks/reduced_throughput.py`` on a GPU.

Needs, beside the project: ``pip install triton`` (any machine) and CUDA's ``ptxas`` on PATH or in
``$CUDA_HOME/bin`` (for the PTX version Triton emits; the script lowers the PTX ``.version`` to
what that ptxas accepts, which changes no instruction for sm_90). It reaches into JAX's private
Pallas-Triton lowering module to get the IR, so it may need adjusting on another JAX release.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

DEFAULT_VARIANTS = ["gd/highest/4/64", "gd/highest/8/64", "gd/highest/4/16", "gd/highest/8/16", "gd/highest/16/16",
                    "momentum/highest/8/16", "nesterov/highest/8/16", "gd/tf32x3/8/16", "gd/default/8/16"]


def triton_ir(optimizer: str, precision: str, warps: int, block: int, K: int, d: int) -> str:
    """The Triton IR (text, no debug info) of the kernel, float32, one configuration."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax._src.pallas.triton import lowering, pallas_call_registration

    from nclandscape.reduced import ReducedParams, make_reduced_data
    from nclandscape.reduced.fused import fused_reduced_solve
    from nclandscape.ufm import make_hparams

    captured = []
    original = lowering.lower_jaxpr_to_triton_module

    def capture(*a, **k):
        out = original(*a, **k)
        captured.append(out)
        return out

    pallas_call_registration.lowering.lower_jaxpr_to_triton_module = capture
    try:
        rdata = make_reduced_data(K, 100, d, dtype=jnp.float32)
        rng = np.random.default_rng(0)
        rp0 = ReducedParams(*(jnp.asarray(rng.standard_normal(s), jnp.float32) for s in ((K, d), (K,), (d, K), (d, d))))

        def one(rp, lam):
            hp = make_hparams(lam, lam, lam, dtype=jnp.float32)
            return fused_reduced_solve(rp, rdata, hp, optimizer=optimizer, lr=0.05, max_steps=100, tol=0.0,
                                       backend="pallas", precision=precision, num_warps=warps, d_block=block)

        jax.jit(jax.vmap(one, in_axes=(None, 0))).trace(rp0, jnp.ones(8, jnp.float32)).lower(
            lowering_platforms=("cuda",))
    finally:
        pallas_call_registration.lowering.lower_jaxpr_to_triton_module = original
    mod = getattr(captured[-1], "module", captured[-1])
    return mod.operation.get_asm(enable_debug_info=False)


def ptxas_path() -> str:
    for cand in (shutil.which("ptxas"), os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")):
        if cand and os.path.exists(cand):
            return cand
    raise SystemExit("ptxas not found: put CUDA's bin on PATH or set CUDA_HOME")


def resources(ttir: str, warps: int, workdir: str) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget

    src = os.path.join(workdir, "kernel.ttir")
    with open(src, "w") as f:
        f.write(ttir)
    k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps, "num_stages": 1})
    ptxas = ptxas_path()
    ver = subprocess.run([ptxas, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release (\d+)\.(\d+)", ver)
    # CUDA 12.x ptxas accepts PTX 8.x, CUDA 13.0 accepts 9.0: the highest its release knows.
    ptx_version = f"{int(m.group(1)) - 4}.{m.group(2)}" if m else "9.0"
    ptx = re.sub(r"^\.version \d+\.\d+", f".version {ptx_version}", k.asm["ptx"], count=1, flags=re.M)
    ptx_path = os.path.join(workdir, "kernel.ptx")
    with open(ptx_path, "w") as f:
        f.write(ptx)
    out = subprocess.run([ptxas, "-arch=sm_90a", "-v", ptx_path, "-o", os.path.join(workdir, "kernel.cubin")],
                         capture_output=True, text=True)
    log = out.stdout + out.stderr
    if out.returncode:
        raise RuntimeError(log)
    regs = int(re.search(r"Used (\d+) registers", log).group(1))
    spill_st, spill_ld = (int(x) for x in re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log).groups())
    return {"registers": regs, "spill_stores": spill_st, "spill_loads": spill_ld, "shared_bytes": k.metadata.shared,
            "programs_per_sm_by_registers": 65536 // (regs * 32 * warps)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS,
                   help="OPTIMIZER/PRECISION/WARPS/D_BLOCK (D_BLOCK: columns of D per block in the kernel)")
    p.add_argument("--K", type=int, default=10)
    p.add_argument("--d", type=int, default=64)
    args = p.parse_args(argv)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    print(f"# fused reduced kernel, K={args.K} d={args.d} float32, Triton -> PTX sm_90 -> ptxas -v")
    print(f"{'variant':>22} {'regs/thread':>11} {'spill st/ld (B)':>16} {'shared (B)':>10} {'programs/SM':>11}")
    for v in args.variants:
        opt, prec, warps, block = v.split("/")
        with tempfile.TemporaryDirectory() as tmp:
            r = resources(triton_ir(opt, prec, int(warps), int(block), args.K, args.d), int(warps), tmp)
        print(f"{v:>22} {r['registers']:>11} {r['spill_stores']:>7}/{r['spill_loads']:<8} {r['shared_bytes']:>10} "
              f"{r['programs_per_sm_by_registers']:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
