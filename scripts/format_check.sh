#!/usr/bin/env bash
# Checks that every tracked C++/CUDA source (*.h *.cpp *.cu *.cuh, from git ls-files) is formatted
# as the repo's .clang-format says (Google base, 100 columns). Changes nothing; prints the files
# that differ and exits 1. Works with Debian 12's clang-format 14 (needs --dry-run and -Werror).
# Override the binary with CLANG_FORMAT=/path/to/clang-format.
set -euo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"

clang_format=${CLANG_FORMAT:-}
if [[ -z "$clang_format" ]]; then
  for candidate in clang-format clang-format-14; do
    if command -v "$candidate" >/dev/null; then
      clang_format=$candidate
      break
    fi
  done
fi
if [[ -z "$clang_format" ]]; then
  echo "format_check.sh: clang-format not found; install it (apt-get install clang-format)" \
    "or set CLANG_FORMAT" >&2
  exit 2
fi

# Tracked files that still exist in the working tree (a deleted, not yet committed file is skipped).
mapfile -t files < <(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | while IFS= read -r f; do
  [[ -f "$f" ]] && printf '%s\n' "$f"
done)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format_check.sh: no tracked *.h *.cpp *.cu *.cuh files"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  # --style=file finds the repo's .clang-format; -Werror turns each needed edit into an error.
  if ! "$clang_format" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if [[ ${#bad[@]} -gt 0 ]]; then
  echo "format_check.sh: ${#bad[@]} of ${#files[@]} files are not clang-format clean:"
  printf '  %s\n' "${bad[@]}"
  echo "run scripts/format.sh to fix"
  exit 1
fi
version=$("$clang_format" --version | head -1)
echo "format_check.sh: ${#files[@]} files clang-format clean ($version)"
