// Tensor: a shape, a dtype, a device and a reference-counted Storage, plus the autograd fields.
// Copying a Tensor copies the handle (like PyTorch), not the data. Activations are NHWC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"

namespace unet {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[10, 256, 256, 32]"
int64_t shape_numel(const Shape& s);

// A block of bytes on one device, freed through its allocator when the last user goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::kFloat32,
                      Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32,
                      Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu());
  template <typename T>
  static Tensor from_data(const T* values, const Shape& shape, Device device = Device::cpu());

  // ---- properties ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim(int i) const;  // negative i counts from the end
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  std::string describe() const;  // "float32[2, 8, 8, 4] on cpu"

  // Raw element pointer; checks the dtype so a wrong cast is an error, not garbage.
  template <typename T>
  T* data() const;
  float* f32() const { return data<float>(); }
  void* raw_data() const;
  // Two tensors alias when they share storage.
  bool shares_storage(const Tensor& other) const;

  // ---- copies ----
  Tensor to(Device device) const;            // no-op handle copy when already there
  Tensor clone() const;                      // deep copy on the same device, no autograd history
  std::vector<float> to_vector() const;      // float32 only; copies to the host
  void copy_from(const Tensor& src);         // same shape and dtype, any devices
  Tensor reshape(const Shape& shape) const;  // shares storage; numel must match
  float item() const;                        // one-element float32 tensor to the host

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  Tensor grad() const;  // undefined until backward() reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (the next backward writes a fresh one)
  // Reverse-mode sweep from a one-element tensor, seeded with 1 (DESIGN.md section 3).
  void backward() const;
  // Same storage, no history: what ops save for backward, so outputs never keep themselves alive.
  Tensor detach() const;
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node);

  TensorImpl* impl() const { return impl_.get(); }
  std::string name() const;
  Tensor& set_name(const std::string& name);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::kFloat32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::string name;
};

// Throws std::invalid_argument "<op>: <what> <shapes>; <hint>" unless the condition holds.
void check_arg(bool ok, const std::string& op, const std::string& message);

}  // namespace unet
