#include "engine/tensor.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/cuda_backend.h"

namespace unet {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kUInt8:
      return 1;
    case DType::kInt16:
      return 2;
    case DType::kInt32:
      return 4;
    case DType::kInt64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
  }
  return "unknown";
}

void check_arg(bool ok, const std::string& op, const std::string& message) {
  if (!ok) throw std::invalid_argument(op + ": " + message);
}

std::string shape_str(const Shape& s) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
  out << "]";
  return out.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0)
      throw std::invalid_argument("tensor shape " + shape_str(s) + " has a negative dimension");
    n *= d;
  }
  return n;
}

// ---- Storage ----
Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cuda() && cuda_bound_device() != device.index) {
    use_cuda_device(device, "tensor on " + device.str());
  }
  data_ = device.is_cuda() ? cuda_allocate(bytes) : cpu_allocate(bytes);
}

Storage::~Storage() {
  if (device_.is_cuda()) {
    cuda_free(data_, bytes_);
  } else {
    cpu_free(data_, bytes_);
  }
}

// ---- creation ----
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.impl_ = std::make_shared<TensorImpl>();
  t.impl_->shape = shape;
  t.impl_->dtype = dtype;
  t.impl_->storage = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_cuda()) {
    cuda_backend::memset_zero(t.raw_data(), t.nbytes());
  } else {
    std::memset(t.raw_data(), 0, t.nbytes());
  }
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::kFloat32, Device::cpu());
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t.to(device);
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape)) {
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  }
  return from_data(values.data(), shape, device);
}

template <typename T>
Tensor Tensor::from_data(const T* values, const Shape& shape, Device device) {
  Tensor t = empty(shape, dtype_of<T>(), device);
  if (device.is_cuda()) {
    cuda_backend::memcpy(t.raw_data(), values, t.nbytes(), cuda_backend::CopyKind::kHostToDevice);
  } else if (t.nbytes()) {
    std::memcpy(t.raw_data(), values, t.nbytes());
  }
  return t;
}
template Tensor Tensor::from_data<float>(const float*, const Shape&, Device);
template Tensor Tensor::from_data<uint8_t>(const uint8_t*, const Shape&, Device);
template Tensor Tensor::from_data<int16_t>(const int16_t*, const Shape&, Device);
template Tensor Tensor::from_data<int32_t>(const int32_t*, const Shape&, Device);
template Tensor Tensor::from_data<int64_t>(const int64_t*, const Shape&, Device);

// ---- properties ----
namespace {
TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  if (!impl) throw std::logic_error("use of an undefined (empty) Tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
int64_t Tensor::dim(int i) const {
  const Shape& s = shape();
  const int r = static_cast<int>(s.size());
  if (i < 0) i += r;
  if (i < 0 || i >= r) {
    throw std::out_of_range("Tensor::dim(" + std::to_string(i) + ") on shape " + shape_str(s));
  }
  return s[i];
}
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device(); }
void* Tensor::raw_data() const { return checked(impl_).storage->data(); }
bool Tensor::shares_storage(const Tensor& o) const {
  return defined() && o.defined() && impl_->storage == o.impl_->storage;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  std::string s = std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
  if (!impl_->name.empty()) s = "'" + impl_->name + "' " + s;
  return s;
}

template <typename T>
T* Tensor::data() const {
  if (dtype() != dtype_of<T>()) {
    throw std::invalid_argument("Tensor::data: " + describe() + " accessed as " +
                                dtype_name(dtype_of<T>()));
  }
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template uint8_t* Tensor::data<uint8_t>() const;
template int16_t* Tensor::data<int16_t>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;

std::string Tensor::name() const { return checked(impl_).name; }
Tensor& Tensor::set_name(const std::string& name) {
  checked(impl_).name = name;
  return *this;
}

// ---- copies ----
void Tensor::copy_from(const Tensor& src) {
  if (src.shape() != shape() || src.dtype() != dtype()) {
    throw std::invalid_argument("Tensor::copy_from: source " + src.describe() +
                                " does not match destination " + describe());
  }
  const size_t bytes = nbytes();
  const bool dst_cuda = device().is_cuda(), src_cuda = src.device().is_cuda();
  if (!dst_cuda && !src_cuda) {
    if (bytes) std::memmove(raw_data(), src.raw_data(), bytes);
    return;
  }
  using cuda_backend::CopyKind;
  const CopyKind kind = dst_cuda && src_cuda ? CopyKind::kDeviceToDevice
                        : dst_cuda           ? CopyKind::kHostToDevice
                                             : CopyKind::kDeviceToHost;
  cuda_backend::memcpy(raw_data(), src.raw_data(), bytes, kind);
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor t = empty(shape(), dtype(), device);
  t.copy_from(*this);
  t.impl_->name = impl_->name;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  t.copy_from(*this);
  return t;
}

std::vector<float> Tensor::to_vector() const {
  Tensor host = to(Device::cpu());
  const float* p = host.f32();
  return std::vector<float>(p, p + host.numel());
}

float Tensor::item() const {
  if (numel() != 1) {
    throw std::invalid_argument("Tensor::item: " + describe() + " has " + std::to_string(numel()) +
                                " elements, not 1");
  }
  return to_vector()[0];
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  if (shape_numel(new_shape) != numel()) {
    throw std::invalid_argument("Tensor::reshape: cannot view " + describe() + " as " +
                                shape_str(new_shape));
  }
  Tensor t;
  t.impl_ = std::make_shared<TensorImpl>();
  t.impl_->storage = impl_->storage;
  t.impl_->shape = new_shape;
  t.impl_->dtype = impl_->dtype;
  if (needs_grad({*this})) {
    const Shape old_shape = shape();
    record(t, "reshape", {*this},
           [old_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(old_shape)}; });
  }
  return t;
}

// ---- autograd ----
bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
  checked(impl_).requires_grad = on;
  return *this;
}
Tensor Tensor::grad() const { return checked(impl_).grad; }
void Tensor::set_grad(const Tensor& g) { checked(impl_).grad = g; }
void Tensor::zero_grad() { checked(impl_).grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_).grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> node) { checked(impl_).grad_fn = std::move(node); }

Tensor Tensor::detach() const {
  Tensor t;
  t.impl_ = std::make_shared<TensorImpl>();
  t.impl_->storage = checked(impl_).storage;
  t.impl_->shape = impl_->shape;
  t.impl_->dtype = impl_->dtype;
  t.impl_->name = impl_->name;
  return t;
}

void Tensor::backward() const {
  if (numel() != 1) {
    throw std::invalid_argument("backward: " + describe() +
                                " is not a one-element loss; reduce it (sum/mean) first");
  }
  run_backward(*this, Tensor::full(shape(), 1.0f, device()));
}

}  // namespace unet
