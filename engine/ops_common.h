// Helpers shared by the op front-ends (engine/ops_*.cpp): argument checks with uniform messages,
// and CUDA scratch buffers. Backend choice lives in engine/dispatch.h.
#pragma once

#include <initializer_list>
#include <string>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/tensor.h"

namespace unet::detail {

// float32, defined, rank (when rank > 0).
void check_input(const std::string& op, const std::string& what, const Tensor& t, int rank = 0);
// All defined tensors on the same device as the first.
void check_same_device(const std::string& op, std::initializer_list<const Tensor*> tensors);
void check_same_shape(const std::string& op, const Tensor& a, const Tensor& b);

// Scratch memory for a CUDA kernel (from the caching allocator); an empty tensor for 0 bytes.
Tensor workspace(size_t bytes, Device device);
inline void* workspace_ptr(const Tensor& ws) { return ws.defined() ? ws.raw_data() : nullptr; }

// A new float32 tensor shaped like `like`, on its device.
inline Tensor empty_like(const Tensor& like) {
  return Tensor::empty(like.shape(), DType::kFloat32, like.device());
}

}  // namespace unet::detail
