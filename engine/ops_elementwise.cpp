// Front-ends for elementwise ops and reductions (sum, mean).
#include <stdexcept>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/reduce/reduce.h"

namespace unet {

using detail::check_input;

Tensor relu(const Tensor& x) {
  check_input("relu", "input", x);
  Tensor y = detail::empty_like(x);
  const int64_t n = x.numel();
  dispatch(
      {"relu.forward", 0, 8.0 * n}, x,
      [&] { kernels::relu_forward_ref<float>(n, x.f32(), y.f32()); },
      [&] { kernels::relu_forward_cpu(n, x.f32(), y.f32()); },
      [&](kernels::Stream st) { kernels::relu_forward_cuda(n, x.f32(), y.f32(), st); });
  if (needs_grad({x})) {
    Tensor ys = y.detach();
    record(y, "relu", {x}, [ys, n](const Tensor& dy) {
      Tensor dx = detail::empty_like(dy);
      dispatch(
          {"relu.backward", 0, 12.0 * n}, dy,
          [&] { kernels::relu_backward_ref<float>(n, ys.f32(), dy.f32(), dx.f32()); },
          [&] { kernels::relu_backward_cpu(n, ys.f32(), dy.f32(), dx.f32()); },
          [&](kernels::Stream st) {
            kernels::relu_backward_cuda(n, ys.f32(), dy.f32(), dx.f32(), st);
          });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor leaky_relu(const Tensor& x, float slope) {
  check_input("leaky_relu", "input", x);
  Tensor y = detail::empty_like(x);
  const int64_t n = x.numel();
  dispatch(
      {"leaky_relu.forward", 0, 8.0 * n}, x,
      [&] { kernels::leaky_relu_forward_ref<float>(n, slope, x.f32(), y.f32()); },
      [&] { kernels::leaky_relu_forward_cpu(n, slope, x.f32(), y.f32()); },
      [&](kernels::Stream st) {
        kernels::leaky_relu_forward_cuda(n, slope, x.f32(), y.f32(), st);
      });
  if (needs_grad({x})) {
    Tensor xs = x.detach();
    record(y, "leaky_relu", {x}, [xs, n, slope](const Tensor& dy) {
      Tensor dx = detail::empty_like(dy);
      dispatch(
          {"leaky_relu.backward", 0, 12.0 * n}, dy,
          [&] { kernels::leaky_relu_backward_ref<float>(n, slope, xs.f32(), dy.f32(), dx.f32()); },
          [&] { kernels::leaky_relu_backward_cpu(n, slope, xs.f32(), dy.f32(), dx.f32()); },
          [&](kernels::Stream st) {
            kernels::leaky_relu_backward_cuda(n, slope, xs.f32(), dy.f32(), dx.f32(), st);
          });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor sigmoid(const Tensor& x) {
  check_input("sigmoid", "input", x);
  Tensor y = detail::empty_like(x);
  const int64_t n = x.numel();
  dispatch(
      {"sigmoid.forward", 0, 8.0 * n}, x,
      [&] { kernels::sigmoid_forward_ref<float>(n, x.f32(), y.f32()); },
      [&] { kernels::sigmoid_forward_cpu(n, x.f32(), y.f32()); },
      [&](kernels::Stream st) { kernels::sigmoid_forward_cuda(n, x.f32(), y.f32(), st); });
  if (needs_grad({x})) {
    Tensor ys = y.detach();
    record(y, "sigmoid", {x}, [ys, n](const Tensor& dy) {
      Tensor dx = detail::empty_like(dy);
      dispatch(
          {"sigmoid.backward", 0, 12.0 * n}, dy,
          [&] { kernels::sigmoid_backward_ref<float>(n, ys.f32(), dy.f32(), dx.f32()); },
          [&] { kernels::sigmoid_backward_cpu(n, ys.f32(), dy.f32(), dx.f32()); },
          [&](kernels::Stream st) {
            kernels::sigmoid_backward_cuda(n, ys.f32(), dy.f32(), dx.f32(), st);
          });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_input("add", "first input", a);
  check_input("add", "second input", b);
  detail::check_same_device("add", {&a, &b});
  detail::check_same_shape("add", a, b);
  Tensor y = detail::empty_like(a);
  const int64_t n = a.numel();
  dispatch(
      {"add", 0, 12.0 * n}, a, [&] { kernels::add_ref<float>(n, a.f32(), b.f32(), y.f32()); },
      [&] { kernels::add_cpu(n, a.f32(), b.f32(), y.f32()); },
      [&](kernels::Stream st) { kernels::add_cuda(n, a.f32(), b.f32(), y.f32(), st); });
  if (needs_grad({a, b})) {
    // d(a+b) passes the gradient through unchanged to both inputs (shared, never written in place).
    record(y, "add", {a, b}, [](const Tensor& dy) { return std::vector<Tensor>{dy, dy}; });
  }
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_input("mul", "first input", a);
  check_input("mul", "second input", b);
  detail::check_same_device("mul", {&a, &b});
  detail::check_same_shape("mul", a, b);
  Tensor y = detail::empty_like(a);
  const int64_t n = a.numel();
  dispatch(
      {"mul", 0, 12.0 * n}, a, [&] { kernels::mul_ref<float>(n, a.f32(), b.f32(), y.f32()); },
      [&] { kernels::mul_cpu(n, a.f32(), b.f32(), y.f32()); },
      [&](kernels::Stream st) { kernels::mul_cuda(n, a.f32(), b.f32(), y.f32(), st); });
  if (needs_grad({a, b})) {
    Tensor as = a.detach(), bs = b.detach();
    record(y, "mul", {a, b}, [as, bs, n](const Tensor& dy) {
      Tensor da = detail::empty_like(dy), db = detail::empty_like(dy);
      dispatch(
          {"mul.backward", 0, 24.0 * n}, dy,
          [&] {
            kernels::mul_ref<float>(n, dy.f32(), bs.f32(), da.f32());
            kernels::mul_ref<float>(n, dy.f32(), as.f32(), db.f32());
          },
          [&] {
            kernels::mul_cpu(n, dy.f32(), bs.f32(), da.f32());
            kernels::mul_cpu(n, dy.f32(), as.f32(), db.f32());
          },
          [&](kernels::Stream st) {
            kernels::mul_cuda(n, dy.f32(), bs.f32(), da.f32(), st);
            kernels::mul_cuda(n, dy.f32(), as.f32(), db.f32(), st);
          });
      return std::vector<Tensor>{da, db};
    });
  }
  return y;
}

Tensor scale(const Tensor& x, float alpha) {
  check_input("scale", "input", x);
  Tensor y = detail::empty_like(x);
  const int64_t n = x.numel();
  dispatch(
      {"scale", 0, 8.0 * n}, x, [&] { kernels::scale_ref<float>(n, alpha, x.f32(), y.f32()); },
      [&] { kernels::scale_cpu(n, alpha, x.f32(), y.f32()); },
      [&](kernels::Stream st) { kernels::scale_cuda(n, alpha, x.f32(), y.f32(), st); });
  if (needs_grad({x})) {
    record(y, "scale", {x},
           [alpha](const Tensor& dy) { return std::vector<Tensor>{scale(dy, alpha)}; });
  }
  return y;
}

Tensor sum(const Tensor& x) {
  check_input("sum", "input", x);
  const int64_t n = x.numel();
  Tensor y = Tensor::empty({1}, DType::kFloat32, x.device());
  dispatch(
      {"sum", 0, 4.0 * n}, x,
      [&] { y.f32()[0] = static_cast<float>(kernels::sum_ref<float>(n, x.f32())); },
      [&] { y.f32()[0] = kernels::sum_cpu(n, x.f32()); },
      [&](kernels::Stream st) {
        Tensor ws = detail::workspace(kernels::sum_cuda_workspace_bytes(n), x.device());
        kernels::sum_cuda(n, x.f32(), y.f32(), detail::workspace_ptr(ws), st);
      });
  if (needs_grad({x})) {
    const Shape shape = x.shape();
    record(y, "sum", {x}, [shape](const Tensor& dy) {
      // Broadcast the one-element gradient: read it once (a sync on CUDA; sum is not on the
      // training hot path) and fill.
      return std::vector<Tensor>{Tensor::full(shape, dy.item(), dy.device())};
    });
  }
  return y;
}

Tensor mean(const Tensor& x) {
  check_input("mean", "input", x);
  const int64_t n = x.numel();
  if (n == 0) throw std::invalid_argument("mean: input " + x.describe() + " is empty");
  return scale(sum(x), 1.0f / static_cast<float>(n));
}

}  // namespace unet
