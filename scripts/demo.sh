#!/usr/bin/env bash
# The main job, end to end (README's first command): build, synthesise a phantom data set, prepare
# slice caches, train, predict on the test volumes, print the per-volume Dice and where the pictures
# are. Without a GPU it trains a small U-Net on 128x128 slices (about 3-4 minutes on 2 cores); with
# one it trains the seed network on 256x256 slices.
#   scripts/demo.sh [output folder, default demo/]
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${1:-demo}
JOBS=${JOBS:-$(nproc)}
bash scripts/setup.sh
# With a GPU: the full build (CUDA backend). Without one, a CPU-only build of just the four apps
# in its own folder, which skips minutes of CUDA compilation that could not be used anyway.
if nvidia-smi -L > /dev/null 2>&1; then
  BUILD=build
  CMAKE_OPTS=()
else
  BUILD=build-cpu
  CMAKE_OPTS=(-DUNET_CUDA=OFF -DUNET_BUILD_TESTS=OFF -DUNET_BUILD_BENCH=OFF)
fi
echo "== build into $BUILD/ (log: $BUILD.log)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${CMAKE_OPTS[@]}" > "$BUILD-configure.log" 2>&1 || { cat "$BUILD-configure.log"; exit 1; }
if ! cmake --build "$BUILD" -j "$JOBS" --target unet_synth unet_prepare unet_train unet_predict > "$BUILD.log" 2>&1; then
  grep -E "error|Error" "$BUILD.log" | head -40
  exit 1
fi
if nvidia-smi -L > /dev/null 2>&1; then
  echo "== GPU found: seed network (depth 5, base 32) on 256x256 slices"
  SYNTH=(--size 512 --train 13 --test 7)
  PREP=(--size 256)
  TRAIN=(--device cuda --epochs 20)
else
  echo "== no GPU: small U-Net (depth 4, base 16) on 128x128 slices, CPU"
  SYNTH=(--size 256 --train 13 --test 7 --slices-min 40 --slices-max 60)
  PREP=(--size 128)
  TRAIN=(--device cpu --depth 4 --base 16 --epochs 10)
fi
rm -rf "$DEMO"
mkdir -p "$DEMO"
START=$(date +%s)
echo "== synthesise phantoms"
"$BUILD"/unet_synth --out "$DEMO" --seed 1 "${SYNTH[@]}" | tail -1
echo "== prepare slice caches"
"$BUILD"/unet_prepare --raw "$DEMO/raw" --out "$DEMO/cache" "${PREP[@]}" | tail -1
echo "== train (recipe default)"
"$BUILD"/unet_train --cache "$DEMO/cache" --out "$DEMO/run" --seed 1 "${TRAIN[@]}" | grep -vE " step [0-9]+/" 
echo "== predict the test volumes"
"$BUILD"/unet_predict --checkpoint "$DEMO/run/best.safetensors" --cache "$DEMO/cache/test" --out "$DEMO/predictions" --png liver --largest-component
echo "== done in $(( $(date +%s) - START )) s (after the build)"
echo "Dice curve:    $DEMO/run/dice_curve.png"
echo "overlays:      $DEMO/predictions/preds/"
echo "metrics:       $DEMO/predictions/metrics.csv"
