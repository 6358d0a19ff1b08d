#!/usr/bin/env bash
# Trains N seeds of a recipe on one synthetic data set and prints, per seed, the final train Dice,
# the best validation Dice and the test Dice, then the convergence rate (a run "converged" when its
# best validation Dice reaches 0.5; a collapsed run stays near 0). The table goes to docs/TRAINING.md.
#   scripts/convergence.sh RECIPE N [extra unet_train options...]
#   e.g. scripts/convergence.sh default 10 --device cpu --depth 4 --base 16 --epochs 8
# Environment: DATA (default conv-data/) is synthesised and prepared once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${1:?recipe}
N=${2:?number of seeds}
shift 2
DATA=${DATA:-conv-data}
B=${BUILD:-build}
if [ ! -f "$DATA/cache/train/manifest.json" ]; then
  $B/unet_synth --out "$DATA" --seed 100 --size 256 --train 13 --test 7 --slices-min 40 --slices-max 60 > /dev/null
  $B/unet_prepare --raw "$DATA/raw" --out "$DATA/cache" --size 128 ${PREPARE_OPTS:-} > /dev/null
fi
converged=0
printf "%-6s %-12s %-12s %-10s %s\n" seed train_dice best_val test_dice collapse_warning
for seed in $(seq 1 "$N"); do
  run="$DATA/runs/$RECIPE-$seed"
  log=$($B/unet_train --cache "$DATA/cache" --out "$run" --recipe "$RECIPE" --seed "$seed" "$@" 2>&1)
  train=$(tail -n 1 "$run/metrics.csv" | cut -d, -f3)
  best=$(tail -n +2 "$run/metrics.csv" | cut -d, -f5 | sort -g | tail -n 1)
  test=$(echo "$log" | sed -n 's/^test Dice.*: //p')
  warned=$(echo "$log" | grep -c "collapsed" || true)
  printf "%-6s %-12s %-12s %-10s %s\n" "$seed" "$train" "$best" "${test:-n/a}" "$warned"
  awk -v b="$best" 'BEGIN { exit !(b >= 0.5) }' && converged=$((converged + 1))
done
echo "recipe $RECIPE: $converged of $N seeds converged (best validation Dice >= 0.5)"
