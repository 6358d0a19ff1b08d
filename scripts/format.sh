#!/usr/bin/env bash
# Formats every tracked C++/CUDA source (*.h *.cpp *.cu *.cuh, from git ls-files) in place with the
# repo's .clang-format. With arguments, formats only those files. scripts/format_check.sh is the
# read-only twin that CI runs. Override the binary with CLANG_FORMAT=/path/to/clang-format.
set -euo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)

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
  echo "format.sh: clang-format not found; install it (apt-get install clang-format)" \
    "or set CLANG_FORMAT" >&2
  exit 2
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  cd "$root"
  mapfile -t files < <(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | while IFS= read -r f; do
    [[ -f "$f" ]] && printf '%s\n' "$f"
  done)
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format.sh: nothing to format"
  exit 0
fi
"$clang_format" --style=file -i "${files[@]}"
echo "format.sh: formatted ${#files[@]} files"
