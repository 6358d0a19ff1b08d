#!/usr/bin/env bash
# Installs every Debian package the build, tests and demo need. Idempotent and quiet when all is
# present. The CUDA toolkit (nvcc, cuBLAS, cuDNN) is expected under /usr/local/cuda already; without
# it everything builds CPU-only.
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config
  libnifti2-dev libniftiio-dev libznz-dev zlib1g-dev   # NIfTI-1/2 via niftilib
  libopenblas-dev                                      # CPU fast path sgemm
  libpng-dev                                           # overlays and plots
  libgtest-dev googletest libbenchmark-dev             # tests, benchmarks
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev   # CLI, JSON, the web server
  clang-format                                         # formatting check in the test command
  clang clang-14 libclang-rt-14-dev libomp-14-dev      # fuzzers, TSan with OpenMP (scripts/sanitize.sh)
  python3-numpy python3-torch                          # the PyTorch reference (CPU) for parity tests
  chromium                                             # headless browser test of unet_serve
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/unet-setup-apt.log 2>&1 || {
  tail -20 /tmp/unet-setup-apt.log
  echo "setup: apt-get install failed (log: /tmp/unet-setup-apt.log)"
  exit 1
}
