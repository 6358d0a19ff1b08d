#!/usr/bin/env bash
# Prepares, on the CPU machine, what a GPU machine lacks (DESIGN.md section 6: no niftilib, and no
# CMake configs for the header-only libraries), into folders that git ignores and the device tool
# carries:
#   .deps/include, .deps/lib   headers and libraries to build there   (scripts/gpu_check.sh)
#   .deps/runtime              shared libraries that binaries built here need there
#   .gpu-bin/                  with --prebuilt: test and benchmark binaries built here for sm_90
#                              without -march=native                (scripts/gpu_run_prebuilt.sh)
# Then, with the device tool: carry [".deps"] (and ".gpu-bin") and run the matching script.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .deps
mkdir -p .deps/include .deps/lib .deps/runtime
for p in libnifti2-dev libnifti2-2 libniftiio-dev libniftiio2 libznz-dev libznz3 libpng-dev \
         libpng16-16 nlohmann-json3-dev; do
  dpkg -L "$p"
done | grep -E "^/usr/(include|lib/x86_64-linux-gnu)/" | while read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    /usr/include/*) d=".deps/include/${f#/usr/include/}" ;;
    *.a | *.pc) continue ;;
    *) d=".deps/lib/$(basename "$f")" ;;
  esac
  mkdir -p "$(dirname "$d")"
  cp -a "$f" "$d"
done
cp -r /usr/include/CLI .deps/include/
for l in libbenchmark.so.1debian libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
  cp -L "/lib/x86_64-linux-gnu/$l" .deps/runtime/
done
cp -L /usr/local/cuda/lib64/libcudart.so.13 .deps/runtime/
if [ "${1:-}" = "--prebuilt" ]; then
  TARGETS=(unet_cuda_test conv2d_test conv_transpose2d_test max_pool2d_test concat_test
           elementwise_test reduce_test dice_loss_test bce_with_logits_test batch_norm2d_test
           adam_test sgd_test train_step_bench)
  cmake -S . -B build-prebuilt -DUNET_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DUNET_DEPS_PREFIX=/nonexistent > /dev/null
  cmake --build build-prebuilt -j "$(nproc)" --target "${TARGETS[@]}"
  rm -rf .gpu-bin
  mkdir -p .gpu-bin
  for t in "${TARGETS[@]}"; do
    cp build-prebuilt/tests/"$t" .gpu-bin/ 2>/dev/null || cp build-prebuilt/bench/"$t" .gpu-bin/
  done
  strip .gpu-bin/*
fi
du -sh .deps .gpu-bin 2>/dev/null || true
echo "carry .deps (and .gpu-bin): together they must stay under the device tool's 64 MiB"
