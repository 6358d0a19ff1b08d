#!/usr/bin/env bash
# Sanitizer CI (docs/TESTING.md), run by scripts/test.sh after the normal suite:
#   asan  the whole CPU test suite built with g++ -fsanitize=address,undefined (build-asan/)
#   tsan  the loader and server tests built with clang -fsanitize=thread (build-tsan/); OpenMP runs
#         on LLVM's libomp with its Archer tool, which tells TSan about OpenMP's synchronisation,
#         so no suppressions are needed and our parallel loops are checked too
#   fuzz  the libFuzzer harnesses (build-fuzz/), each for FUZZ_RUNS executions from the committed
#         corpus, then every committed regression input replayed once
# Each step prints one summary line at the end; the script fails if any step failed.
# Usage: scripts/sanitize.sh [asan] [tsan] [fuzz]   (default: all three)
# Environment: JOBS (default 2), FUZZ_RUNS (default 20000).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_RUNS=${FUZZ_RUNS:-20000}
NICE=(nice -n 10)
HARNESSES=(nifti npy manifest safetensors serve_upload)
steps=("$@")
# Shortest first, so a deadline (below) cuts the longest step, not all of them.
[ ${#steps[@]} -eq 0 ] && steps=(fuzz tsan asan)

summary=()
failed=0
# CPU seconds (user + sys) of the finished child processes so far, into $cpu_now: with the wall time
# it shows how much of a slow run was spent waiting for a busy machine (wall ~ CPU / 2 on an idle
# 2-core machine). `times` must run in this shell, not in a $(...) subshell, to see the children.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
cpu_now=0
read_cpu() {
  times > "$times_file"
  cpu_now=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/);
                           printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$times_file")
}
step_cpu0=0
record() {  # record <step> <status> <wall seconds> <detail>
  read_cpu
  summary+=("sanitize: $1 $2 in $3 s (CPU $((cpu_now - step_cpu0)) s): $4")
  # Also now, so a run stopped later (the CI deadline) still shows how the finished steps ended.
  echo "${summary[-1]}"
  step_cpu0=$cpu_now
  [ "$2" = "ok" ] || failed=1
}

# configure_and_build <dir> <log> <cmake args...> -- <targets...>
configure_and_build() {
  local dir=$1 log=$2
  shift 2
  local args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  local target_args=()
  for t in "${targets[@]}"; do target_args+=(--target "$t"); done
  if ! "${NICE[@]}" cmake -S . -B "$dir" -DUNET_CUDA=OFF -DUNET_BUILD_BENCH=OFF "${args[@]}" \
    > "$log" 2>&1; then
    tail -20 "$log"
    return 1
  fi
  if ! "${NICE[@]}" cmake --build "$dir" -j "$JOBS" "${target_args[@]}" >> "$log" 2>&1; then
    grep -E "error|Error" "$log" | head -40
    echo "sanitize: build failed (full log: $log)"
    return 1
  fi
}

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# Every sanitizer report is fatal; the LeakSanitizer part of ASan runs at each test's exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_asan() {
  local t0=$SECONDS
  mkdir -p build-asan
  # -O1 builds in about half the time of -O2 and keeps ASan's reports exact; -g1: line numbers.
  if ! configure_and_build build-asan build-asan.log -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    "-DCMAKE_CXX_FLAGS=$SAN_FLAGS" "-DCMAKE_C_FLAGS=$SAN_FLAGS" \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" "-DCMAKE_C_FLAGS_DEBUG=-O1 -g1" \
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" --; then
    record asan FAILED $((SECONDS - t0)) "build (build-asan.log)"
    return
  fi
  UNET_TEST_SLOWDOWN=10 "${NICE[@]}" ctest --test-dir build-asan -j "$JOBS" --output-on-failure --timeout 1500 \
    > build-asan/ctest.log 2>&1
  local rc=$?
  local line
  line=$(grep -E "tests passed|tests failed" build-asan/ctest.log | tail -n 1)
  if [ $rc -ne 0 ]; then
    grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:|\*\*\*Failed|Exception|Timeout" \
      build-asan/ctest.log | head -20
    record asan FAILED $((SECONDS - t0)) "${line:-ctest failed} (build-asan/ctest.log)"
  else
    record asan ok $((SECONDS - t0)) "$line"
  fi
}

ARCHER=/usr/lib/llvm-14/lib/libarcher.so
run_tsan() {
  local t0=$SECONDS
  if [ ! -f "$ARCHER" ]; then
    record tsan FAILED 0 "$ARCHER missing (libomp-14-dev; run scripts/setup.sh)"
    return
  fi
  mkdir -p build-tsan
  local tflags="-fsanitize=thread -fno-omit-frame-pointer"
  if ! configure_and_build build-tsan build-tsan.log -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    "-DCMAKE_CXX_FLAGS=$tflags" "-DCMAKE_C_FLAGS=$tflags" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" \
    -- loader_test unet_serve_test unet_serve; then
    record tsan FAILED $((SECONDS - t0)) "build (build-tsan.log)"
    return
  fi
  # OpenBLAS's own pthreads are not instrumented and Archer does not cover them: its sgemm runs
  # single-threaded here (OpenBLAS is a system library, not our code). OpenMP keeps its threads.
  # ignore_noninstrumented_modules=1 is what Archer asks for at start-up: accesses that libomp (and
  # the other uninstrumented system libraries: libcpp-httplib, libstdc++) make through intercepted
  # calls such as memset are not checked, since their own synchronisation is invisible to TSan.
  # Every access made by our code is still checked; no suppression file is used.
  OMP_TOOL_LIBRARIES=$ARCHER OPENBLAS_NUM_THREADS=1 UNET_TEST_SLOWDOWN=10 \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 \
${TSAN_OPTIONS:-}" \
    "${NICE[@]}" ctest --test-dir build-tsan -j "$JOBS" --output-on-failure --timeout 1500 \
    -R "^(Loader|UnetServe)\." > build-tsan/ctest.log 2>&1
  local rc=$?
  local line
  line=$(grep -E "tests passed|tests failed" build-tsan/ctest.log | tail -n 1)
  if [ $rc -ne 0 ]; then
    grep -E "WARNING: ThreadSanitizer|\*\*\*Failed|Timeout" build-tsan/ctest.log | head -20
    record tsan FAILED $((SECONDS - t0)) "${line:-ctest failed} (build-tsan/ctest.log)"
  else
    record tsan ok $((SECONDS - t0)) "$line"
  fi
}

run_fuzz() {
  local t0=$SECONDS
  mkdir -p build-fuzz
  if ! configure_and_build build-fuzz build-fuzz.log -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DUNET_FUZZ=ON -DUNET_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -- unet_fuzzers; then
    record fuzz FAILED $((SECONDS - t0)) "build (build-fuzz.log)"
    return
  fi
  local bad=() runs_done=0 replayed=0
  for h in "${HARNESSES[@]}"; do
    local bin=build-fuzz/fuzz/${h}_fuzz work
    work=$(mktemp -d build-fuzz/work-"$h".XXXXXX)
    local dict=()
    [ -f "fuzz/dict/$h.dict" ] && dict=(-dict="fuzz/dict/$h.dict")
    # New inputs go to the scratch folder (first), the committed corpus is only read. Fixed seed:
    # the same executions on every run.
    if "${NICE[@]}" "$bin" "$work" "fuzz/corpus/$h" "${dict[@]}" -runs="$FUZZ_RUNS" -seed=1 \
      -timeout=30 -artifact_prefix="$work/" > "$work/log.txt" 2>&1; then
      runs_done=$((runs_done + 1))
      rm -rf "$work"
    else
      tail -40 "$work/log.txt"
      bad+=("$h (log and crash input in $work)")
    fi
    # One process per input, so every open finding is named, not only the first.
    local f failing=()
    for f in "fuzz/regressions/$h"/*; do
      [ -f "$f" ] || continue
      if "${NICE[@]}" "$bin" "$f" > "build-fuzz/replay.log" 2>&1; then
        replayed=$((replayed + 1))
      else
        grep -E "ERROR: |runtime error|FUZZ_CHECK|SUMMARY" "build-fuzz/replay.log" | head -3
        failing+=("$(basename "$f")")
      fi
    done
    [ ${#failing[@]} -gt 0 ] && bad+=("$h regressions failing: ${failing[*]}")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    record fuzz FAILED $((SECONDS - t0)) "${bad[*]}"
  else
    record fuzz ok $((SECONDS - t0)) \
      "$runs_done harnesses x $FUZZ_RUNS runs clean, $replayed regression inputs replayed clean"
  fi
}

# SANITIZE_DEADLINE (seconds since the epoch; scripts/test.sh sets it so CI ends inside its time
# limit): a step that would probably not finish before it is skipped and says so in its summary
# line. Skipping is not a failure; a finding or a failing test in a step that ran is. The estimates
# are cold builds plus runs on an idle 2-core machine (docs/TESTING.md), with some margin.
declare -A ESTIMATE_S=([fuzz]=600 [tsan]=1200 [asan]=2700)
fits() {
  [ -z "${SANITIZE_DEADLINE:-}" ] && return 0
  [ $(( $(date +%s) + ${ESTIMATE_S[$1]} )) -le "$SANITIZE_DEADLINE" ]
}

t_start=$SECONDS
read_cpu
step_cpu0=$cpu_now
for s in "${steps[@]}"; do
  if [ -n "${ESTIMATE_S[$s]:-}" ] && ! fits "$s"; then
    summary+=("sanitize: $s SKIPPED: about ${ESTIMATE_S[$s]} s needed, less left before the CI deadline")
    continue
  fi
  case "$s" in
    asan) run_asan ;;
    tsan) run_tsan ;;
    fuzz) run_fuzz ;;
    *)
      echo "sanitize.sh: unknown step '$s' (asan, tsan, fuzz)" >&2
      exit 2
      ;;
  esac
done
printf '%s\n' "${summary[@]}"
read_cpu
if [ $failed -ne 0 ]; then
  echo "sanitize: FAILED ($((SECONDS - t_start)) s, CPU $cpu_now s)"
  exit 1
fi
echo "sanitize: no findings in the steps that ran ($((SECONDS - t_start)) s, CPU $cpu_now s)"
