#!/usr/bin/env bash
# Measures the CPU conv variants (im2col, Winograd, direct) on every 3x3 layer of the U-Nets the
# product trains (seed at 256x256 with batch 1 and 10; the two 128x128 networks with batch 10),
# and the up-convolutions' GEMM and direct variants, interleaved, several rounds, and prints the
# variant tables kernels/conv2d/conv2d_cpu_choice.cpp and
# kernels/conv_transpose2d/conv_transpose2d_cpu_direct.cpp hold (bench/conv_cpu_choice.py has the
# rule). The 2026-12-03 tables came from its conv2d rows and a separate run of the up-convolution
# rows (bench/results/convt_cpu_choice_*.json), which this script now measures in the same pass. Run it on a quiet machine; it takes about 15
# minutes on the 2-core development machine.
#
#   scripts/measure_conv_cpu_choice.sh [build dir (default build)] [rounds (default 3)]
# JSON: bench/results/conv_cpu_choice_<date>_<set>.json
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
BENCH="$BUILD/bench/conv_cpu_bench"
[ -x "$BENCH" ] || { echo "measure_conv_cpu_choice: $BENCH not found; build with UNET_BUILD_BENCH=ON" >&2; exit 1; }
mkdir -p bench/results
stamp=$(date +%Y-%m-%d)
outs=()
run() {  # set name, layer set ("" or 128), batch
  local out="bench/results/conv_cpu_choice_${stamp}_$1.json"
  echo "== $1 (layers ${2:-seed}, batch $3), $ROUNDS rounds -> $out"
  UNET_CONV_BENCH_LAYERS=$2 UNET_CONV_BENCH_BATCH=$3 "$BENCH" \
    --benchmark_filter='^(conv2d/.*/(cpu|winograd|direct)/.*_R3_S3|conv_transpose2d/.*/(cpu|direct)/)' \
    --benchmark_repetitions="$ROUNDS" --benchmark_enable_random_interleaving=true \
    --benchmark_min_time=0.2 --benchmark_out="$out" --benchmark_out_format=json > /dev/null
  # Keep what the table needs (the context, and per round each row's name and time).
  /usr/bin/python3 - "$out" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
keep = ("name", "run_type", "repetition_index", "iterations", "real_time", "time_unit")
data["benchmarks"] = [{k: b[k] for k in keep if k in b} for b in data["benchmarks"]
                      if b.get("run_type") == "iteration"]
json.dump(data, open(path, "w"), indent=0)
PY
  outs+=("$out")
}
run seed_n1 "" 1
run seed_n10 "" 10
run net128_n10 128 10
/usr/bin/python3 bench/conv_cpu_choice.py "${outs[@]}"
echo "conv2d rows (kernels/conv2d/conv2d_cpu_choice.cpp):"
/usr/bin/python3 bench/conv_cpu_choice.py --cpp "${outs[@]}"
echo "conv_transpose2d rows (kernels/conv_transpose2d/conv_transpose2d_cpu_direct.cpp):"
/usr/bin/python3 bench/conv_cpu_choice.py --convt --cpp "${outs[@]}"
