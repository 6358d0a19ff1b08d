#!/usr/bin/env bash
# The short GPU call for a lease with little time left: runs test and benchmark binaries built on
# the CPU machine by `scripts/gpu_prepare.sh --prebuilt` (sm_90, no -march=native) with their shared
# libraries (.gpu-bin/, .deps/), so no device time goes to compiling. Then the PyTorch reference in
# the same call, compute-sanitizer over the CUDA tests (scripts/gpu_sanitize.sh, within a budget),
# and the summary table.
#   bash scripts/gpu_run_prebuilt.sh
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-gpu-results}
mkdir -p "$RESULTS"
export LD_LIBRARY_PATH="$PWD/.deps/runtime:$PWD/.deps/lib:${LD_LIBRARY_PATH:-}"
START=$(date +%s)
stage() { echo "== [$(( $(date +%s) - START ))s] $*"; }
stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
for t in .gpu-bin/*_test; do
  stage "$(basename "$t")"
  timeout 70 "$t" --gtest_brief=1 > "$RESULTS/$(basename "$t").log" 2>&1
  echo "exit $?"; grep -E "PASSED|FAILED|SKIPPED|Failure" "$RESULTS/$(basename "$t").log" | head -12
done
stage "training-step benchmark"
timeout 60 .gpu-bin/train_step_bench --benchmark_filter=cuda --benchmark_out="$RESULTS/train_step.json" \
  --benchmark_out_format=json 2>&1 | grep -E "cuda|Error" | head -10
stage "PyTorch reference"
for args in "--batch 10 --precision fp32" "--batch 32 --precision tf32 --channels-last"; do
  timeout 40 python3 bench/torch_reference.py --device cuda $args --warmup 3 --steps 8 >> "$RESULTS/torch.jsonl" 2>> "$RESULTS/torch.err" \
    || echo "torch_reference $args failed"
done
stage "compute-sanitizer (memcheck, racecheck, initcheck) over every CUDA test binary"
SANITIZE_BUDGET_S=${SANITIZE_BUDGET_S:-180} SANITIZE_RUN_S=${SANITIZE_RUN_S:-30} OUT="$RESULTS" \
  bash scripts/gpu_sanitize.sh .gpu-bin | tail -n 40 || echo "compute-sanitizer found errors"
stage "summary"
python3 scripts/gpu_summary.py "$RESULTS" | tee "$RESULTS/summary.txt"
stage "done"
