#!/usr/bin/env bash
# The one GPU call (DESIGN.md section 6): build, full test suite on the GPU, kernel and training-step
# benchmarks, the PyTorch reference in the same call, and a short table last.
#   bash scripts/gpu_check.sh            (on the GPU machine, from the repo root)
# Results go to $OUT (the device tool's folder) or build-gpu/results. Each stage has a time cap so
# the whole run stays within one lease; a stage that fails is reported and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-build-gpu/results}
mkdir -p "$RESULTS"
START=$(date +%s)
# Libraries this machine lacks (niftilib, libpng, nlohmann) travel in .deps: scripts/gpu_prepare.sh.
export LD_LIBRARY_PATH="$PWD/.deps/lib:${LD_LIBRARY_PATH:-}"
stage() { echo "== [$(( $(date +%s) - START ))s] $*"; }

stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$RESULTS/gpu.txt"
nproc

stage "configure + build"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B build-gpu $GEN -DCMAKE_BUILD_TYPE=Release -DUNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DUNET_DEPS_PREFIX="$PWD/.deps" > "$RESULTS/configure.log" 2>&1 || { tail -30 "$RESULTS/configure.log"; exit 1; }
timeout 240 cmake --build build-gpu -j "$(nproc)" > "$RESULTS/build.log" 2>&1 || { grep -E "error|Error" "$RESULTS/build.log" | head -30; exit 1; }

stage "tests (full suite, GPU present)"
timeout 150 ctest --test-dir build-gpu -j 12 --timeout 120 --output-on-failure > "$RESULTS/ctest.log" 2>&1
grep -E "tests passed|tests failed" "$RESULTS/ctest.log"
grep -E "\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Exception" "$RESULTS/ctest.log" | head -20
# How many CUDA tests really ran (not skipped): suites named *Cuda*, and the CUDA instances of the
# backend-parameterised kernel suites (Backends/<Op>Test.<case>/cuda...).
grep -cE "Test +#[0-9]+: [^ ]*([Cc]uda)[^ ]* \.+ +Passed" "$RESULTS/ctest.log" | sed 's/^/CUDA tests passed (not skipped): /'

stage "training-step benchmark"
timeout 90 build-gpu/bench/train_step_bench --benchmark_filter=cuda --benchmark_format=json \
  --benchmark_out="$RESULTS/train_step.json" --benchmark_out_format=json > "$RESULTS/train_step.txt" 2>&1 || echo "train_step_bench failed"

stage "PyTorch reference"
for args in "--batch 10 --precision fp32" "--batch 10 --precision tf32 --channels-last" \
            "--batch 32 --precision fp32" "--batch 32 --precision tf32 --channels-last"; do
  timeout 60 python3 bench/torch_reference.py --device cuda $args --warmup 3 --steps 10 >> "$RESULTS/torch.jsonl" 2>> "$RESULTS/torch.err" \
    || echo "torch_reference $args failed"
done

stage "kernel benchmarks (batch 32)"
timeout 75 build-gpu/bench/conv2d_cuda_bench --benchmark_filter='/N32_' --benchmark_format=csv > "$RESULTS/conv2d_bench.csv" 2> "$RESULTS/conv2d_bench.err" || echo "conv2d bench cut short"
if [ -x build-gpu/bench/conv_transpose2d_cuda_bench ]; then
  timeout 30 build-gpu/bench/conv_transpose2d_cuda_bench --benchmark_filter='/N32_' --benchmark_format=csv > "$RESULTS/convt_bench.csv" 2>/dev/null || echo "convT bench cut short"
fi
for b in pool_concat_elementwise_reduce_cuda_bench loss_batch_norm_optim_cuda_bench; do
  [ -x build-gpu/bench/$b ] && timeout 20 build-gpu/bench/$b --benchmark_format=csv > "$RESULTS/$b.csv" 2>/dev/null
done

stage "summary"
python3 scripts/gpu_summary.py "$RESULTS" | tee "$RESULTS/summary.txt"
stage "done"
