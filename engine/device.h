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
// The engine's one stream per device (created on first use) and a full synchronisation of it.
kernels::Stream cuda_stream();
void cuda_synchronize();
// "NVIDIA H200, 132 SMs, 139.8 GiB" or "no CUDA device".
std::string cuda_device_description();

}  // namespace unet
