// Where a tensor lives. CPU always works; CUDA needs the CUDA backend in the build and a device
// present, and says clearly when either is missing.
#pragma once

#include <string>

#include "kernels/common/stream.h"

namespace unet {

enum class DeviceType : uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  static Device cpu() { return {DeviceType::kCPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

// Parses "cpu", "cuda", "cuda:N" and "auto" (CUDA when available, else CPU); throws on anything
// else.
Device parse_device(const std::string& text);

// Number of usable CUDA devices; 0 without the backend or without a device (never throws).
int cuda_device_count();
bool cuda_available();
// Throws std::runtime_error "<what>: no CUDA device present (...); use --device cpu" when unusable.
void require_cuda(const std::string& what);

// One CUDA device per process (data parallelism runs one process per GPU, docs/ARCHITECTURE.md):
// the first CUDA use binds the process to a device, cudaSetDevice'd before the engine's stream or
// any allocation exists, and every later CUDA tensor must be on that device.
// use_cuda_device(d, what) binds to d.index (idempotent for the same index). Throws
// std::runtime_error naming `what` when the index does not exist ("cuda:3 does not exist: this
// machine has 2 CUDA devices, cuda:0 to cuda:1") or the process is already bound to another one.
void use_cuda_device(const Device& d, const std::string& what);
// The bound device's index; binds to cuda:0 when nothing is bound yet (a CUDA op ran first).
int cuda_device_index();
// The bound device's index, or -1 while none is bound (never binds, never throws; cheap).
int cuda_bound_device();

// The engine's one stream (created on first use, on the bound device) and a full
// synchronisation of it.
kernels::Stream cuda_stream();
void cuda_synchronize();
// "NVIDIA H200, 132 SMs, 139.8 GiB" of the bound device, or "no CUDA device".
std::string cuda_device_description();

}  // namespace unet
