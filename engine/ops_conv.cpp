// Front-ends for conv2d and conv_transpose2d: shape checks, dispatch, autograd.
#include <stdexcept>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"

namespace unet {

using detail::check_input;
using detail::check_same_device;
using detail::workspace;
using detail::workspace_ptr;

namespace {

const float* opt_ptr(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }
float* opt_mut(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

kernels::Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  kernels::Conv2dShape s;
  s.N = static_cast<int>(x.dim(0));
  s.H = static_cast<int>(x.dim(1));
  s.W = static_cast<int>(x.dim(2));
  s.C = static_cast<int>(x.dim(3));
  s.K = static_cast<int>(w.dim(0));
  s.R = static_cast<int>(w.dim(1));
  s.S = static_cast<int>(w.dim(2));
  s.pad_h = s.pad_w = o.padding;
  s.stride_h = s.stride_w = o.stride;
  return s;
}

// The CPU variant for a shape and pass: the forced one (KernelConfig::variant["conv2d_cpu"]) where
// it applies, else the measured default; im2col where the chosen one does not apply.
kernels::Conv2dCpuVariant cpu_variant(const kernels::Conv2dShape& s, kernels::Conv2dCpuPass pass) {
  using V = kernels::Conv2dCpuVariant;
  const auto& forced = kernel_config().variant;
  const auto v = forced.find(kernels::kConv2dCpuVariants.op()) != forced.end()
                     ? static_cast<V>(variant_in_use(kernels::kConv2dCpuVariants))
                     : kernels::conv2d_cpu_default_variant(s, pass);
  const bool applies = v == V::kIm2col ||
                       (v == V::kWinogradF2 && pass != kernels::Conv2dCpuPass::kBackwardWeight &&
                        kernels::conv2d_winograd_applies(s)) ||
                       (v == V::kDirect && kernels::conv2d_direct_applies(s, pass));
  return applies ? v : V::kIm2col;
}

// Each pass hands one callable per backend to dispatch() (engine/dispatch.h).
void conv_forward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b,
                  Tensor& y, bool relu) {
  dispatch(
      {"conv2d.forward", s.flops(), 4.0 * double(s.x_size() + s.w_size() + s.y_size())}, x,
      [&] { kernels::conv2d_forward_ref<float>(s, x.f32(), w.f32(), opt_ptr(b), y.f32(), relu); },
      [&] {
        switch (cpu_variant(s, kernels::Conv2dCpuPass::kForward)) {
          case kernels::Conv2dCpuVariant::kWinogradF2:
            kernels::conv2d_forward_cpu_winograd(s, x.f32(), w.f32(), opt_ptr(b), y.f32(), relu);
            break;
          case kernels::Conv2dCpuVariant::kDirect:
            kernels::conv2d_forward_cpu_direct(s, x.f32(), w.f32(), opt_ptr(b), y.f32(), relu);
            break;
          case kernels::Conv2dCpuVariant::kIm2col:
            kernels::conv2d_forward_cpu(s, x.f32(), w.f32(), opt_ptr(b), y.f32(), relu);
            break;
        }
      },
      [&](kernels::Stream st) {
        const auto v =
            static_cast<kernels::Conv2dVariant>(variant_in_use(kernels::kConv2dVariants));
        Tensor ws = workspace(kernels::conv2d_forward_workspace_bytes(v, s), x.device());
        kernels::conv2d_forward_cuda(v, s, x.f32(), w.f32(), opt_ptr(b), y.f32(), relu,
                                     workspace_ptr(ws), st);
      });
}

void conv_backward_data(const kernels::Conv2dShape& s, const Tensor& dy, const Tensor& w,
                        const Tensor& relu_y, Tensor& dx) {
  dispatch(
      {"conv2d.backward_data", s.flops(), 4.0 * double(s.x_size() + s.w_size() + s.y_size())}, dy,
      [&] {
        kernels::conv2d_backward_data_ref<float>(s, dy.f32(), w.f32(), opt_ptr(relu_y), dx.f32());
      },
      [&] {
        switch (cpu_variant(s, kernels::Conv2dCpuPass::kBackwardData)) {
          case kernels::Conv2dCpuVariant::kWinogradF2:
            kernels::conv2d_backward_data_cpu_winograd(s, dy.f32(), w.f32(), opt_ptr(relu_y),
                                                       dx.f32());
            break;
          case kernels::Conv2dCpuVariant::kDirect:
            kernels::conv2d_backward_data_cpu_direct(s, dy.f32(), w.f32(), opt_ptr(relu_y),
                                                     dx.f32());
            break;
          case kernels::Conv2dCpuVariant::kIm2col:
            kernels::conv2d_backward_data_cpu(s, dy.f32(), w.f32(), opt_ptr(relu_y), dx.f32());
            break;
        }
      },
      [&](kernels::Stream st) {
        const auto v =
            static_cast<kernels::Conv2dVariant>(variant_in_use(kernels::kConv2dVariants));
        Tensor ws = workspace(kernels::conv2d_backward_data_workspace_bytes(v, s), dy.device());
        kernels::conv2d_backward_data_cuda(v, s, dy.f32(), w.f32(), opt_ptr(relu_y), dx.f32(),
                                           workspace_ptr(ws), st);
      });
}

void conv_backward_weight(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& dy,
                          const Tensor& relu_y, Tensor& dw, Tensor& db) {
  dispatch(
      {"conv2d.backward_weight", s.flops(), 4.0 * double(s.x_size() + s.w_size() + s.y_size())}, x,
      [&] {
        kernels::conv2d_backward_weight_ref<float>(s, x.f32(), dy.f32(), opt_ptr(relu_y), dw.f32(),
                                                   opt_mut(db));
      },
      [&] {
        if (cpu_variant(s, kernels::Conv2dCpuPass::kBackwardWeight) ==
            kernels::Conv2dCpuVariant::kDirect) {
          kernels::conv2d_backward_weight_cpu_direct(s, x.f32(), dy.f32(), opt_ptr(relu_y),
                                                     dw.f32(), opt_mut(db));
        } else {
          kernels::conv2d_backward_weight_cpu(s, x.f32(), dy.f32(), opt_ptr(relu_y), dw.f32(),
                                              opt_mut(db));
        }
      },
      [&](kernels::Stream st) {
        const auto v =
            static_cast<kernels::Conv2dVariant>(variant_in_use(kernels::kConv2dVariants));
        Tensor ws = workspace(kernels::conv2d_backward_weight_workspace_bytes(v, s), x.device());
        kernels::conv2d_backward_weight_cuda(v, s, x.f32(), dy.f32(), opt_ptr(relu_y), dw.f32(),
                                             opt_mut(db), workspace_ptr(ws), st);
      });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& o) {
  const std::string op = "conv2d";
  check_input(op, "input x", x, 4);
  check_input(op, "weight w", w, 4);
  if (bias.defined()) check_input(op, "bias", bias, 1);
  check_same_device(op, {&x, &w, &bias});
  if (x.dim(3) != w.dim(3)) {
    throw std::invalid_argument("conv2d: input " + x.describe() + " has " +
                                std::to_string(x.dim(3)) + " channels but weight " + w.describe() +
                                " (KRSC) expects " + std::to_string(w.dim(3)));
  }
  if (bias.defined() && bias.dim(0) != w.dim(0)) {
    throw std::invalid_argument("conv2d: bias " + bias.describe() + " does not match " +
                                std::to_string(w.dim(0)) + " output channels of weight " +
                                w.describe());
  }
  if (o.stride < 1 || o.padding < 0) {
    throw std::invalid_argument("conv2d: stride must be >= 1 and padding >= 0, got stride " +
                                std::to_string(o.stride) + ", padding " +
                                std::to_string(o.padding));
  }
  const kernels::Conv2dShape s = conv_shape(x, w, o);
  if (s.H + 2 * s.pad_h < s.R || s.W + 2 * s.pad_w < s.S) {
    throw std::invalid_argument("conv2d: input " + x.describe() + " is smaller than the kernel " +
                                std::to_string(s.R) + "x" + std::to_string(s.S) + " with padding " +
                                std::to_string(o.padding));
  }
  Tensor y = Tensor::empty({s.N, s.P(), s.Q(), s.K}, DType::kFloat32, x.device());
  conv_forward(s, x, w, bias, y, o.relu);
  if (needs_grad({x, w, bias})) {
    Tensor xs = x.detach(), ws = w.detach();
    Tensor relu_y = o.relu ? y.detach() : Tensor();
    const bool need_dx = x.requires_grad(), need_dw = w.requires_grad();
    const bool has_bias = bias.defined();
    const bool need_db = has_bias && bias.requires_grad();
    record(y, op, {x, w, bias}, [=](const Tensor& dy) {
      Tensor dx, dw, db;
      if (need_dx) {
        dx = detail::empty_like(xs);
        conv_backward_data(s, dy, ws, relu_y, dx);
      }
      if (need_dw || need_db) {
        dw = detail::empty_like(ws);
        if (has_bias) db = Tensor::empty({s.K}, DType::kFloat32, dy.device());
        conv_backward_weight(s, xs, dy, relu_y, dw, db);
      }
      return std::vector<Tensor>{dx, need_dw ? dw : Tensor(), need_db ? db : Tensor()};
    });
  }
  return y;
}

// ---------------------------------------------------------------------------------------------

namespace {

// The configured variant, or v1 (which handles any R, S, stride) when it cannot run this shape.
kernels::ConvTranspose2dVariant convt_variant(const kernels::ConvTranspose2dShape& s) {
  auto v = static_cast<kernels::ConvTranspose2dVariant>(
      variant_in_use(kernels::kConvTranspose2dVariants));
  return kernels::conv_transpose2d_variant_supports(v, s)
             ? v
             : kernels::ConvTranspose2dVariant::kV1Naive;
}

// Whether a CPU pass runs the direct variant: forced ("conv_transpose2d_cpu") or the measured
// default, and only where it applies.
bool convt_cpu_direct(const kernels::ConvTranspose2dShape& s,
                      kernels::ConvTranspose2dCpuPass pass) {
  using V = kernels::ConvTranspose2dCpuVariant;
  const auto& forced = kernel_config().variant;
  const V v = forced.find(kernels::kConvTranspose2dCpuVariants.op()) != forced.end()
                  ? static_cast<V>(variant_in_use(kernels::kConvTranspose2dCpuVariants))
                  : kernels::conv_transpose2d_cpu_default_variant(s, pass);
  return v == V::kDirect && kernels::conv_transpose2d_direct_applies(
                                s, pass == kernels::ConvTranspose2dCpuPass::kForward);
}

void convt_forward(const kernels::ConvTranspose2dShape& s, const Tensor& x, const Tensor& w,
                   const Tensor& b, Tensor& y) {
  dispatch(
      {"conv_transpose2d.forward", s.flops(), 4.0 * double(s.x_size() + s.w_size() + s.y_size())},
      x,
      [&] {
        kernels::conv_transpose2d_forward_ref<float>(s, x.f32(), w.f32(), opt_ptr(b), y.f32());
      },
      [&] {
        if (convt_cpu_direct(s, kernels::ConvTranspose2dCpuPass::kForward)) {
          kernels::conv_transpose2d_forward_cpu_direct(s, x.f32(), w.f32(), opt_ptr(b), y.f32());
        } else {
          kernels::conv_transpose2d_forward_cpu(s, x.f32(), w.f32(), opt_ptr(b), y.f32());
        }
      },
      [&](kernels::Stream st) {
        kernels::conv_transpose2d_forward_cuda(convt_variant(s), s, x.f32(), w.f32(), opt_ptr(b),
                                               y.f32(), st);
      });
}

void convt_backward_data(const kernels::ConvTranspose2dShape& s, const Tensor& w, const Tensor& dy,
                         Tensor& dx) {
  dispatch(
      {"conv_transpose2d.backward_data", s.flops(),
       4.0 * double(s.x_size() + s.w_size() + s.y_size())},
      dy,
      [&] { kernels::conv_transpose2d_backward_data_ref<float>(s, dy.f32(), w.f32(), dx.f32()); },
      [&] {
        if (convt_cpu_direct(s, kernels::ConvTranspose2dCpuPass::kBackwardData)) {
          kernels::conv_transpose2d_backward_data_cpu_direct(s, dy.f32(), w.f32(), dx.f32());
        } else {
          kernels::conv_transpose2d_backward_data_cpu(s, dy.f32(), w.f32(), dx.f32());
        }
      },
      [&](kernels::Stream st) {
        kernels::conv_transpose2d_backward_data_cuda(convt_variant(s), s, dy.f32(), w.f32(),
                                                     dx.f32(), st);
      });
}

void convt_backward_weight(const kernels::ConvTranspose2dShape& s, const Tensor& x,
                           const Tensor& dy, Tensor& dw, Tensor& db) {
  dispatch(
      {"conv_transpose2d.backward_weight", s.flops(),
       4.0 * double(s.x_size() + s.w_size() + s.y_size())},
      x,
      [&] {
        kernels::conv_transpose2d_backward_weight_ref<float>(s, x.f32(), dy.f32(), dw.f32(),
                                                             opt_mut(db));
      },
      [&] {
        if (convt_cpu_direct(s, kernels::ConvTranspose2dCpuPass::kBackwardWeight)) {
          kernels::conv_transpose2d_backward_weight_cpu_direct(s, x.f32(), dy.f32(), dw.f32(),
                                                               opt_mut(db));
        } else {
          kernels::conv_transpose2d_backward_weight_cpu(s, x.f32(), dy.f32(), dw.f32(),
                                                        opt_mut(db));
        }
      },
      [&](kernels::Stream st) {
        const auto v = convt_variant(s);
        Tensor ws =
            workspace(kernels::conv_transpose2d_backward_weight_workspace_bytes(v, s), x.device());
        kernels::conv_transpose2d_backward_weight_cuda(v, s, x.f32(), dy.f32(), dw.f32(),
                                                       opt_mut(db), workspace_ptr(ws), st);
      });
}

}  // namespace

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride) {
  const std::string op = "conv_transpose2d";
  check_input(op, "input x", x, 4);
  check_input(op, "weight w", w, 4);
  if (bias.defined()) check_input(op, "bias", bias, 1);
  check_same_device(op, {&x, &w, &bias});
  if (x.dim(3) != w.dim(0)) {
    throw std::invalid_argument("conv_transpose2d: input " + x.describe() + " has " +
                                std::to_string(x.dim(3)) + " channels but weight " + w.describe() +
                                " (CRSK) expects " + std::to_string(w.dim(0)));
  }
  if (bias.defined() && bias.dim(0) != w.dim(3)) {
    throw std::invalid_argument("conv_transpose2d: bias " + bias.describe() + " does not match " +
                                std::to_string(w.dim(3)) + " output channels of " + w.describe());
  }
  if (stride < 1) {
    throw std::invalid_argument("conv_transpose2d: stride must be >= 1, got " +
                                std::to_string(stride));
  }
  kernels::ConvTranspose2dShape s;
  s.N = static_cast<int>(x.dim(0));
  s.H = static_cast<int>(x.dim(1));
  s.W = static_cast<int>(x.dim(2));
  s.C = static_cast<int>(x.dim(3));
  s.R = static_cast<int>(w.dim(1));
  s.S = static_cast<int>(w.dim(2));
  s.K = static_cast<int>(w.dim(3));
  s.stride_h = s.stride_w = stride;
  Tensor y = Tensor::empty({s.N, s.P(), s.Q(), s.K}, DType::kFloat32, x.device());
  convt_forward(s, x, w, bias, y);
  if (needs_grad({x, w, bias})) {
    Tensor xs = x.detach(), ws = w.detach();
    const bool need_dx = x.requires_grad(), need_dw = w.requires_grad();
    const bool has_bias = bias.defined();
    const bool need_db = has_bias && bias.requires_grad();
    record(y, op, {x, w, bias}, [=](const Tensor& dy) {
      Tensor dx = need_dx ? detail::empty_like(xs) : Tensor();
      Tensor dw = (need_dw || need_db) ? detail::empty_like(ws) : Tensor();
      Tensor db = (dw.defined() && has_bias) ? Tensor::empty({s.K}, DType::kFloat32, dy.device())
                                             : Tensor();
      if (dx.defined()) convt_backward_data(s, ws, dy, dx);
      if (dw.defined()) convt_backward_weight(s, xs, dy, dw, db);
      return std::vector<Tensor>{dx, need_dw ? dw : Tensor(), need_db ? db : Tensor()};
    });
  }
  return y;
}

}  // namespace unet
