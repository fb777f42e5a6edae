#!/usr/bin/env bash
# Every GPU figure still to be measured, as one prepared script for a session that is lent a GPU
# (the device tool: 15 minutes of device time in all, 10 minutes a call). Run from the repo root:
#
#     bash benchmarks/gpu_session.sh            # on the GPU machine; logs go to $OUT (or ./gpu_out)
#
# It uses the machine's own python3 (jax, flax, optax, pyarrow, torch there; nothing to install)
# with the repo on PYTHONPATH. Each step has its own time limit, so one slow or failing step
# never costs the others; the whole script ends within ~9 minutes. Copy the printed tables into
# benchmarks/RESULTS.md with the GPU model and date.
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PY:-python3}

step() {  # step NAME SECONDS CMD...: run with a limit, log to $OUT/NAME.log, never abort the script
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "=== $name rc=$?"
  tail -n 40 "$OUT/$name.log"
}

step env 60 $PY -c "import jax, jaxlib; print(jax.__version__, jaxlib.__version__, jax.devices())"
# Issue 4: fused reduced kernel vs optax reduced vs full engine; the target is fused >= 10x the
# full roofline at n=100, and n=1e4 within 10% of n=100. Five kernel variants in one run
# (PRECISION/WARPS/D_BLOCK; registers and spills of each: benchmarks/fused_kernel_resources.py).
step reduced 240 $PY benchmarks/reduced_throughput.py --B 4096 --steps 50 --repeats 5 --full-mem-gb 40 \
    --fused-variants highest/8/16,highest/4/16,highest/8/64,tf32x3/8/16,default/8/16 --json
# Issue 3: sweep engine at B=4096, fraction of the memory roofline (target >= 70%).
step sweep 120 $PY benchmarks/sweep_throughput.py --B 256 4096 --json
# Issue 5: dense Hessian path vmapped over 256 configurations of P ~ 2000.
step hessian 120 $PY benchmarks/hessian_bench.py --configs 256
# Issue 8: ResNet18 images/s against PyTorch (targets >= 1.5x at batch 128, >= 1.35x best).
step resnet 150 $PY benchmarks/resnet_throughput.py --steps 30 --repeats 3
echo "done $(date -u +%H:%M:%S)"
