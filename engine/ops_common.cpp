#include "engine/ops_common.h"

#include <stdexcept>

namespace unet::detail {

void check_input(const std::string& op, const std::string& what, const Tensor& t, int rank) {
  if (!t.defined()) throw std::invalid_argument(op + ": " + what + " is an undefined tensor");
  if (t.dtype() != DType::kFloat32) {
    throw std::invalid_argument(op + ": " + what + " must be float32, got " + t.describe() +
                                "; convert it first");
  }
  if (rank > 0 && t.rank() != rank) {
    throw std::invalid_argument(op + ": " + what + " must have rank " + std::to_string(rank) +
                                " (NHWC activations / KRSC weights), got " + t.describe());
  }
}

void check_same_device(const std::string& op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
    } else if (t->device() != first->device()) {
      throw std::invalid_argument(op + ": inputs are on different devices (" + first->describe() +
                                  " and " + t->describe() + "); move them with .to(device)");
    }
  }
}

void check_same_shape(const std::string& op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw std::invalid_argument(op + ": shapes differ: " + a.describe() + " vs " + b.describe());
  }
}

Tensor workspace(size_t bytes, Device device) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({static_cast<int64_t>(bytes)}, DType::kUInt8, device);
}

}  // namespace unet::detail
