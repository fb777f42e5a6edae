#!/usr/bin/env bash
# The --cpu variant of every figure config on real CIFAR-10, one after the other, niced.
# Resumable: rerunning continues each run from its last checkpoint (finished runs are skipped
# at once). Writes runs/cpu/<fig>/ (checkpoints, metrics, figures) and copies the figures and
# metrics into experiments/resnet/results/<fig>_cpu/, the files experiments/RESULTS.md quotes
# (then `python -m experiments.resnet.runner summarize` writes their tables).
#
#   nohup experiments/resnet/run_cpu.sh > runs/cpu.log 2>&1 &
#
# A failing figure is reported and the next one still runs; the exit status counts failures.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/cpu}
RES=experiments/resnet/results
FIGS=${FIGS:-"fig3_optimizers:sgd,adam fig7_d3_features fig5_fixed_etf fig4_feature_dim fig6_rescaled fig3_optimizers:lbfgs"}
fail=0
for item in $FIGS; do
  fig=${item%%:*}
  runs=()
  if [[ $item == *:* ]]; then
    IFS=, read -ra names <<< "${item#*:}"
    for n in "${names[@]}"; do runs+=(--run "$n"); done
  fi
  echo "== $fig ${runs[*]:-} ($(date -u +%H:%M:%S))"
  start=$SECONDS
  if nice -n 19 nclandscape train "experiments/resnet/$fig.py" --cpu --out "$OUT/$fig" "${runs[@]}"; then
    echo "== $fig done in $((SECONDS - start)) s"
  else
    echo "== $fig FAILED (exit $?) after $((SECONDS - start)) s"; fail=$((fail + 1))
  fi
  mkdir -p "$RES/${fig}_cpu"
  cp -f "$OUT/$fig"/*.png "$RES/${fig}_cpu/" 2>/dev/null
  for d in "$OUT/$fig"/*/; do
    [ -f "$d/metrics.jsonl" ] || continue
    n=$(basename "$d")
    mkdir -p "$RES/${fig}_cpu/$n"
    cp -f "$d/metrics.jsonl" "$d/config.json" "$RES/${fig}_cpu/$n/"
    [ -f "$d/features_3d.npz" ] && cp -f "$d/features_3d.npz" "$RES/${fig}_cpu/$n/"
  done
done
# Redraw each figure from every run on disk (a figure split over several calls above).
nice -n 19 python -c '
import sys
from pathlib import Path
from nclandscape.nets.plots import plot_run, expand_runs
for d in sorted(Path(sys.argv[1]).iterdir()):
    if expand_runs(d):
        for p in plot_run([d], d / "nc_curves"):
            print("wrote", p)
' "$OUT" && cp -f "$OUT"/fig3_optimizers/nc_curves.png "$RES/fig3_optimizers_cpu/" 2>/dev/null
echo "== all done ($(date -u +%H:%M:%S)), $fail failed"
exit $fail
