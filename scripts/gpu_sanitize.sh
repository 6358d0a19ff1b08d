#!/usr/bin/env bash
# compute-sanitizer over every CUDA test binary: memcheck (out-of-bounds and misaligned accesses,
# leaks), racecheck (shared-memory hazards) and initcheck (reads of uninitialised device memory),
# on the CUDA instances only (the CPU ones would only slow the tools down). The kernel suites use
# small shapes already; unet_cuda_test's whole-model cases are the slow ones, so each run has a
# time limit and the whole call a budget, and what did not fit is reported as such, never as clean.
#   bash scripts/gpu_sanitize.sh [BIN_DIR]     (default .gpu-bin, from gpu_prepare.sh --prebuilt)
# Environment: OUT (results folder), SANITIZE_BUDGET_S (default 240), SANITIZE_RUN_S (default 60).
# Writes $OUT/sanitize.json: one row per (binary, tool) with status clean | errors | timeout |
# unsupported | skipped (budget) and the error summary line; exits 1 if any run found errors.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${1:-.gpu-bin}
RESULTS=${OUT:-gpu-results}
BUDGET=${SANITIZE_BUDGET_S:-240}
PER_RUN=${SANITIZE_RUN_S:-60}
mkdir -p "$RESULTS/sanitize"
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
START=$(date +%s)
rows=()
found_errors=0

row() {  # binary tool status summary
  local summary=${4//\"/\'}
  rows+=("{\"binary\": \"$1\", \"tool\": \"$2\", \"status\": \"$3\", \"summary\": \"$summary\"}")
  echo "$1 $2: $3 ${4:+($4)}"
}

# On some runtimes (gVisor) the tool refuses the device; find out once, on the smallest suite.
probe="$BIN_DIR/concat_test"
if [ ! -x "$SAN" ]; then
  unsupported="compute-sanitizer not found"
elif ! timeout 60 "$SAN" --tool memcheck --error-exitcode 99 "$probe" --gtest_filter='*cuda*' \
       > "$RESULTS/sanitize/probe.log" 2>&1 && grep -qE "Device not supported|error 999" \
       "$RESULTS/sanitize/probe.log"; then
  unsupported="the device is not supported here ($(grep -m1 -E 'Device not supported|error 999' "$RESULTS/sanitize/probe.log"))"
else
  unsupported=""
fi

for t in "$BIN_DIR"/*_test; do
  name=$(basename "$t")
  for tool in memcheck racecheck initcheck; do
    if [ -n "$unsupported" ]; then row "$name" "$tool" unsupported "$unsupported"; continue; fi
    if (( $(date +%s) - START + PER_RUN > BUDGET )); then
      row "$name" "$tool" skipped "out of the ${BUDGET}s budget"
      continue
    fi
    log="$RESULTS/sanitize/$name.$tool.log"
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    timeout "$PER_RUN" "$SAN" --tool "$tool" "${extra[@]}" --error-exitcode 99 \
      "$t" --gtest_filter='*cuda*:*Cuda*:*CUDA*' --gtest_brief=1 > "$log" 2>&1
    code=$?
    summary=$(grep -m1 -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | sed 's/^========= //')
    if [ $code -eq 124 ]; then
      row "$name" "$tool" timeout "over ${PER_RUN}s"
    elif [ $code -eq 99 ]; then
      row "$name" "$tool" errors "$summary"
      found_errors=1
    elif [ $code -ne 0 ]; then
      row "$name" "$tool" errors "test exit $code; $summary"
      found_errors=1
    else
      row "$name" "$tool" clean "$summary"
    fi
  done
done

{
  echo "{\"compute_sanitizer\": \"$("$SAN" --version 2>/dev/null | tail -n 1)\","
  echo " \"budget_s\": $BUDGET, \"per_run_s\": $PER_RUN, \"wall_s\": $(( $(date +%s) - START )),"
  echo " \"runs\": ["
  for i in "${!rows[@]}"; do
    sep=","
    (( i == ${#rows[@]} - 1 )) && sep=""
    echo "  ${rows[$i]}$sep"
  done
  echo " ]}"
} > "$RESULTS/sanitize.json"
exit $found_errors
