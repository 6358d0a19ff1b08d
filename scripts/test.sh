#!/usr/bin/env bash
# The test command (README): installs what is missing, builds, checks formatting, runs the whole
# GoogleTest suite with ctest (CUDA tests skip without a GPU and run with one), then the sanitizer
# runs (scripts/sanitize.sh: ASan+UBSan suite, TSan loader/server tests, short fuzz runs; the time
# they add is measured in docs/TESTING.md), and ends with ctest's summary line and the sanitizer
# summary lines. Fails if the build, the formatting, the suite or a sanitizer step fails (a step
# skipped for lack of time before the CI deadline is not a failure); SANITIZE_STRICT=0 makes the
# sanitizer steps report only.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI stops a run at 90 minutes: sanitizer steps that would not finish by 80 are skipped (named),
# and whatever still runs then is stopped.
export SANITIZE_DEADLINE=${SANITIZE_DEADLINE:-$(( $(date +%s) + 80 * 60 ))}
bash scripts/setup.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
if ! cmake --build build -j "$JOBS" > build.log 2>&1; then
  grep -E "error|Error" build.log | head -40
  echo "build failed (full log: build.log)"
  exit 1
fi
bash scripts/format_check.sh
/usr/bin/python3 -m unittest discover -s tests/torch_parity -q 2>&1 | tail -3
# ctest lists skipped tests after its summary; repeat the summary line so the run ends with it.
set +e
ctest --test-dir build -j "$JOBS" --output-on-failure --timeout 600 2>&1 | tee build/ctest.log
status=${PIPESTATUS[0]}
left=$(( SANITIZE_DEADLINE - $(date +%s) ))
if [ "$left" -gt 60 ]; then
  timeout "$left" bash scripts/sanitize.sh 2>&1 | tee build/sanitize.log
  sanitize_status=${PIPESTATUS[0]}
  # Stopped at the deadline: the step then running had not finished. Like a skipped step, that is
  # not a failure (a slow machine must not reject a submission); a step that finished before it
  # and failed still is (sanitize.sh prints each step's line as it ends).
  if [ "$sanitize_status" -eq 124 ]; then
    echo "sanitize: stopped at the CI deadline, the running step unfinished (not a failure)" |
      tee -a build/sanitize.log
    sanitize_status=0
    grep -qE "^sanitize: [a-z]+ FAILED" build/sanitize.log && sanitize_status=1
  fi
else
  echo "sanitize: not run, the CI deadline has passed" | tee build/sanitize.log
  sanitize_status=0
fi
set -e
grep -E "tests passed|tests failed" build/ctest.log | tail -n 1
grep -E "^sanitize: " build/sanitize.log | awk '!seen[$0]++'  # each once, in order
# The sanitizer steps gate the run (docs/TESTING.md, "Status"); SANITIZE_STRICT=0 turns that off
# for a local run. Their findings are printed above either way.
if [ "${SANITIZE_STRICT:-1}" = 1 ]; then
  [ "$status" -eq 0 ] && [ "$sanitize_status" -eq 0 ]
else
  [ "$sanitize_status" -eq 0 ] || echo "sanitize: findings above do not fail this run (SANITIZE_STRICT=0)"
  exit "$status"
fi
