// Front-ends for max_pool2d and channel concatenation.
#include <stdexcept>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/concat/concat.h"
#include "kernels/max_pool2d/max_pool2d.h"

namespace unet {

using detail::check_input;

Tensor max_pool2d(const Tensor& x, int kernel, int stride) {
  const std::string op = "max_pool2d";
  check_input(op, "input x", x, 4);
  kernels::MaxPool2dShape s;
  s.N = static_cast<int>(x.dim(0));
  s.H = static_cast<int>(x.dim(1));
  s.W = static_cast<int>(x.dim(2));
  s.C = static_cast<int>(x.dim(3));
  s.R = s.S = kernel;
  s.stride_h = s.stride_w = stride;
  if (kernel < 1 || stride < 1 || s.H < kernel || s.W < kernel) {
    throw std::invalid_argument("max_pool2d: window " + std::to_string(kernel) + " stride " +
                                std::to_string(stride) + " does not fit input " + x.describe() +
                                "; the input must be at least as large as the window");
  }
  Tensor y = Tensor::empty({s.N, s.P(), s.Q(), s.C}, DType::kFloat32, x.device());
  dispatch(
      {"max_pool2d.forward", 0, 4.0 * double(x.numel() + y.numel())}, x,
      [&] { kernels::max_pool2d_forward_ref<float>(s, x.f32(), y.f32()); },
      [&] { kernels::max_pool2d_forward_cpu(s, x.f32(), y.f32()); },
      [&](kernels::Stream st) {
        kernels::max_pool2d_forward_cuda(
            static_cast<kernels::MaxPool2dVariant>(variant_in_use(kernels::kMaxPool2dVariants)), s,
            x.f32(), y.f32(), st);
      });
  if (needs_grad({x})) {
    Tensor xs = x.detach();  // the argmax is recomputed from x in backward (no index tensor)
    record(y, op, {x}, [=](const Tensor& dy) {
      Tensor dx = detail::empty_like(xs);
      dispatch(
          {"max_pool2d.backward", 0, 4.0 * double(2 * xs.numel() + dy.numel())}, dy,
          [&] { kernels::max_pool2d_backward_ref<float>(s, xs.f32(), dy.f32(), dx.f32()); },
          [&] { kernels::max_pool2d_backward_cpu(s, xs.f32(), dy.f32(), dx.f32()); },
          [&](kernels::Stream st) {
            kernels::max_pool2d_backward_cuda(
                static_cast<kernels::MaxPool2dVariant>(variant_in_use(kernels::kMaxPool2dVariants)),
                s, xs.f32(), dy.f32(), dx.f32(), st);
          });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor concat_channels(const Tensor& a, const Tensor& b) {
  const std::string op = "concat";
  check_input(op, "first input", a, 4);
  check_input(op, "second input", b, 4);
  detail::check_same_device(op, {&a, &b});
  for (int d = 0; d < 3; ++d) {
    if (a.dim(d) != b.dim(d)) {
      throw std::invalid_argument("concat: N, H, W must match to concatenate channels: " +
                                  a.describe() + " and " + b.describe());
    }
  }
  kernels::ConcatShape s;
  s.pixels = a.dim(0) * a.dim(1) * a.dim(2);
  s.C1 = static_cast<int>(a.dim(3));
  s.C2 = static_cast<int>(b.dim(3));
  Tensor y =
      Tensor::empty({a.dim(0), a.dim(1), a.dim(2), s.C1 + s.C2}, DType::kFloat32, a.device());
  const auto variant = [] {
    return static_cast<kernels::ConcatVariant>(variant_in_use(kernels::kConcatVariants));
  };
  dispatch(
      {"concat.forward", 0, 8.0 * double(y.numel())}, a,
      [&] { kernels::concat_forward_ref<float>(s, a.f32(), b.f32(), y.f32()); },
      [&] { kernels::concat_forward_cpu(s, a.f32(), b.f32(), y.f32()); },
      [&](kernels::Stream st) {
        kernels::concat_forward_cuda(variant(), s, a.f32(), b.f32(), y.f32(), st);
      });
  if (needs_grad({a, b})) {
    const Shape sa = a.shape(), sb = b.shape();
    record(y, op, {a, b}, [=](const Tensor& dy) {
      Tensor da = Tensor::empty(sa, DType::kFloat32, dy.device());
      Tensor db = Tensor::empty(sb, DType::kFloat32, dy.device());
      dispatch(
          {"concat.backward", 0, 8.0 * double(dy.numel())}, dy,
          [&] { kernels::concat_backward_ref<float>(s, dy.f32(), da.f32(), db.f32()); },
          [&] { kernels::concat_backward_cpu(s, dy.f32(), da.f32(), db.f32()); },
          [&](kernels::Stream st) {
            kernels::concat_backward_cuda(variant(), s, dy.f32(), da.f32(), db.f32(), st);
          });
      return std::vector<Tensor>{da, db};
    });
  }
  return y;
}

}  // namespace unet
