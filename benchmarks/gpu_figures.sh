#!/usr/bin/env bash
# A shortened real run of every figure of the MSE paper on one GPU (H100/H200), within 9 minutes.
# Run from the repo root:
#
#     bash benchmarks/gpu_figures.sh          # figures and logs go to $OUT (default gpu_figures_out)
#
# Data: real CIFAR-10 .npz shards, looked up in $CIFAR_DIR, ../shared/data/cifar10,
# shared/data/cifar10 and .data/cifar10 (in that order). Shard a (10,000 train images, 1,000
# per class) plus the test file are 54 MiB, small enough to carry to a lent machine:
#     mkdir -p .data/cifar10 && cp ../shared/data/cifar10/cifar10_{train_a,test}.npz .data/cifar10/
# then carry ".data" (it is git-ignored). SHARDS=abcde uses the full 50k where all shards exist.
#
# Each figure runs its full recipe (ResNet18 width 64, bf16, the paper's optimisers and lrs)
# shortened: shard a, EPOCHS epochs (default 15), lr x0.1 every 5 epochs, records every 3.
# Fig. 6 keeps its cosine schedule over the shortened run. Only the runs that carry each
# figure's claim run: Fig. 3 sgd/adam/lbfgs, Fig. 4 d = 5 and 512 for MSE and CE, Fig. 5
# learned and fixed ETF at d = K, Fig. 6 (alpha, M) = (1, 1), (15, 1), (1, 10), Fig. 7 both.
# Every step has a time limit that also respects a global deadline (DEADLINE_S, default 470 s
# after the start; the figures then get at most 70 s), so a slow or failing step never costs the others or the figures; a killed
# run keeps its records (checkpoints are per epoch) and the figures are drawn from the files
# at the end whatever happened. The log of each step is $OUT/<step>.log; $OUT/summary.txt lists
# the last record of every run. The full 200-epoch commands are in docs/resnet.md.
set -u
OUT=${OUT:-gpu_figures_out}
EPOCHS=${EPOCHS:-15}
SHARDS=${SHARDS:-a}
DEADLINE_S=${DEADLINE_S:-470}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
T0=$SECONDS

DATA=""
for d in "${CIFAR_DIR:-}" ../shared/data/cifar10 shared/data/cifar10 .data/cifar10; do
  if [ -n "$d" ] && [ -f "$d/cifar10_train_a.npz" ] && [ -f "$d/cifar10_test.npz" ]; then DATA=$d; break; fi
done
echo "data: ${DATA:-NOT FOUND (set CIFAR_DIR; the training steps will fail, the landscape figures still run)}"

left() { echo $((DEADLINE_S - (SECONDS - T0))); }

step() {  # step NAME SECONDS CMD...: time-limited (also by the deadline), logged, never aborts
  local name=$1 limit=$2 rest
  shift 2
  rest=$(left)
  if [ "$rest" -lt "$limit" ]; then limit=$rest; fi
  if [ "$limit" -lt 20 ]; then echo "=== $name skipped: $(left) s left"; return; fi
  echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "=== $name rc=$? after $((SECONDS - T0)) s"
  tail -n 6 "$OUT/$name.log"
}

COMMON=(--set data_path="${DATA:-missing}" --set shards="$SHARDS" --set epochs="$EPOCHS"
        --set lr_decay_epochs=5 --set eval_every=3 --set bf16=true --set progress=false --no-plot)
# TINY=1: every step on generated 8x8 data (10 classes, 8 images each) at width 4, to test this
# script on a CPU in a few minutes; the numbers mean nothing.
LBFGS_BATCH=1000
if [ "${TINY:-0}" = 1 ]; then
  COMMON+=(--set data=tiny --set tiny_classes=10 --set tiny_train_per_class=8
           --set tiny_test_per_class=4 --set image_size=8 --set width=4 --set batch_size=16
           --set bf16=false --set fast_compile=true)
  LBFGS_BATCH=80
fi
EXTRA=()
cmd() {  # cmd FIG RUN... : sets CMD to the figure's full recipe, shortened, for those runs
  local fig=$1
  shift
  CMD=($PY -m nclandscape train "experiments/resnet/$fig.py" --out "$OUT/$fig")
  for r in "$@"; do CMD+=(--run "$r"); done
  CMD+=("${COMMON[@]}" ${EXTRA[@]+"${EXTRA[@]}"})
}

step env 30 $PY -c "import jax, jaxlib; print(jax.__version__, jaxlib.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
# Figs. 2 and 8: closed forms and polar grids, seconds on any machine.
step fig2 60 $PY -m experiments experiments/landscape/fig2.py --out "$OUT/fig2"
step fig8 60 $PY -m experiments experiments/landscape/fig8.py --out "$OUT/fig8"
cmd fig3_optimizers sgd adam; step fig3_sgd_adam 120 "${CMD[@]}"
EXTRA=(--set batch_size=$LBFGS_BATCH)  # L-BFGS: 10 iterations per epoch of shard a
cmd fig3_optimizers lbfgs; step fig3_lbfgs 70 "${CMD[@]}"
EXTRA=()
cmd fig5_fixed_etf learned fixed_etf_dK; step fig5 90 "${CMD[@]}"
cmd fig4_feature_dim mse_d5 ce_d5 mse_d512 ce_d512; step fig4 110 "${CMD[@]}"
EXTRA=(--set restart_epochs="$EPOCHS")  # one cosine period over the shortened run
cmd fig6_rescaled alpha1_M1 alpha15_M1 alpha1_M10; step fig6 80 "${CMD[@]}"
EXTRA=()
cmd fig7_d3_features mse ce; step fig7 70 "${CMD[@]}"

# Figures from the files, whatever finished (a run killed by its limit keeps its records).
echo "=== figures ($(date -u +%H:%M:%S))"
timeout 70 $PY - "$OUT" <<'EOF' 2>&1 | tee "$OUT/figures.log"
import json, sys
from pathlib import Path
from nclandscape.nets.plots import expand_runs, plot_run
out = Path(sys.argv[1])
FIGS = ("fig3_optimizers", "fig4_feature_dim", "fig5_fixed_etf", "fig6_rescaled", "fig7_d3_features")
found = {}
rows = []
for fig in FIGS:  # the numbers first: cheap, and kept if drawing runs out of time
    runs = [r for r in expand_runs(out / fig) if (r / "metrics.jsonl").read_text().strip()]
    found[fig] = runs
    for r in runs:
        last = json.loads((r / "metrics.jsonl").read_text().splitlines()[-1])
        rows.append(f"{fig}/{r.name}: epoch {last['epoch']} " + " ".join(
            f"{k} {last.get(k)}" for k in ("train_acc", "test_acc", "nc1", "nc2", "nc3", "nc4", "images_per_s")))
(out / "summary.txt").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
for fig in FIGS:  # the 3-D scatter last: it loads the data and compiles the model again
    d, runs = out / fig, found[fig]
    if not runs:
        print(f"{fig}: no records"); continue
    try:
        print("wrote", plot_run(runs, d / "nc_curves")[0])
        if fig == "fig6_rescaled":
            for name, sub in (("alpha_row", ("alpha1_M1", "alpha15_M1")), ("M_row", ("alpha1_M1", "alpha1_M10"))):
                r = [d / s for s in sub if d / s in runs]
                if r:
                    print("wrote", plot_run(r, d / name)[0])
        if fig == "fig7_d3_features":
            from nclandscape.nets.features import feature_scatter
            print("wrote", feature_scatter(runs, d / "features_3d", per_class=100)[0])
    except Exception as e:  # one figure failing must not stop the others
        print(f"{fig}: figure failed: {type(e).__name__}: {e}")
EOF
echo "done after $((SECONDS - T0)) s ($(date -u +%H:%M:%S))"
