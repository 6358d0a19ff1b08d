#!/usr/bin/env bash
# Runs the whole ctest suite of a build folder N times in a row and counts the failures: the
# flaky-test hunt of docs/TESTING.md. Every run's failing tests are kept, so one failure in twenty
# is named, not only counted.
# Usage: scripts/repeat_suite.sh <build dir> <runs> [extra ctest arguments...]
# Environment: JOBS (ctest -j, default 2); STRESS=<n> keeps n CPU-bound busy loops running for the
# whole repeat (like `stress --cpu n`: the timing-sensitive server and loader tests under load).
# Writes <build dir>/repeat/run-<i>.log and prints one line per run and a last line
# "repeat: <runs> runs, <failed runs> with failures, <failures> failures"; exits 1 if any test
# failed.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 <build dir> <runs> [extra ctest arguments...]" >&2
  exit 2
fi
build=$1
runs=$2
shift 2
JOBS=${JOBS:-2}
mkdir -p "$build/repeat"
stress_pids=()
stop_stress() { [ ${#stress_pids[@]} -gt 0 ] && kill "${stress_pids[@]}" 2> /dev/null; }
trap stop_stress EXIT
for _ in $(seq 1 "${STRESS:-0}"); do
  (while :; do :; done) &
  stress_pids+=($!)
done
[ ${#stress_pids[@]} -gt 0 ] && echo "repeat: ${#stress_pids[@]} busy loops running (STRESS)"
failed_runs=0
failures=0
for i in $(seq 1 "$runs"); do
  t0=$SECONDS
  log="$build/repeat/run-$i.log"
  ctest --test-dir "$build" -j "$JOBS" --timeout 600 "$@" > "$log" 2>&1
  summary=$(grep -E "tests passed|tests failed" "$log" | tail -n 1)
  # ctest lists each failure as "<n> - <name> (Failed|Timeout|...)" after the summary.
  failing=$(sed -n '/The following tests FAILED:/,$p' "$log" | grep -E '^[[:space:]]+[0-9]+ - ' |
    sed -E 's/^[[:space:]]+[0-9]+ - //')
  n=0
  [ -n "$failing" ] && n=$(printf '%s\n' "$failing" | wc -l)
  failures=$((failures + n))
  [ "$n" -gt 0 ] && failed_runs=$((failed_runs + 1))
  echo "repeat: run $i/$runs in $((SECONDS - t0)) s (load $(cut -d' ' -f1 /proc/loadavg)): ${summary:-no summary}"
  [ -n "$failing" ] && printf '%s\n' "$failing" | sed 's/^/  failed: /'
done
echo "repeat: $runs runs, $failed_runs with failures, $failures failures"
[ "$failures" -eq 0 ]
