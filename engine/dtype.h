// Element types a Tensor can hold. float32 is the compute type; uint8/int16/int32 carry data
// (masks, Hounsfield units); int64 carries counters (batch norm's num_batches_tracked). bf16 slots
// in here later as one more enumerator.
#pragma once

#include <cstddef>
#include <cstdint>

namespace unet {

enum class DType : uint8_t { kFloat32, kUInt8, kInt16, kInt32, kInt64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", ...

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kFloat32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::kUInt8;
}
template <>
constexpr DType dtype_of<int16_t>() {
  return DType::kInt16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::kInt32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::kInt64;
}

}  // namespace unet
