#include "model/layers.h"

#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace unet::model {

Init parse_init(const std::string& text) {
  if (text == "glorot" || text == "glorot_uniform") return Init::kGlorotUniform;
  if (text == "he" || text == "kaiming") return Init::kHe;
  throw std::invalid_argument("unknown initialisation '" + text + "'; use glorot or he");
}

const char* init_name(Init init) { return init == Init::kHe ? "he" : "glorot"; }

namespace {

// Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Keras' default kernel initialiser).
// He normal: N(0, sqrt(2 / fan_in)), the ReLU-preserving variance (PyTorch's kaiming_normal_).
Tensor init_weight(const Shape& shape, double fan_in, double fan_out, Init init,
                   std::mt19937_64& rng) {
  Tensor w = Tensor::empty(shape);
  float* p = w.f32();
  if (init == Init::kGlorotUniform) {
    const double a = std::sqrt(6.0 / (fan_in + fan_out));
    std::uniform_real_distribution<double> dist(-a, a);
    for (int64_t i = 0; i < w.numel(); ++i) p[i] = static_cast<float>(dist(rng));
  } else {
    std::normal_distribution<double> dist(0.0, std::sqrt(2.0 / fan_in));
    for (int64_t i = 0; i < w.numel(); ++i) p[i] = static_cast<float>(dist(rng));
  }
  return w.set_requires_grad(true);
}

Tensor zeros_param(int64_t n) { return Tensor::zeros({n}).set_requires_grad(true); }

}  // namespace

Shape pytorch_shape(const Shape& s, Layout layout) {
  switch (layout) {
    case Layout::kVector:
      return s;
    case Layout::kKRSCasOIHW:
      return {s[0], s[3], s[1], s[2]};  // K,R,S,C -> K,C,R,S
    case Layout::kCRSKasIOHW:
      return {s[0], s[3], s[1], s[2]};  // C,R,S,K -> C,K,R,S
  }
  return s;
}

// Both 4-D conversions move the last axis to position 1: [A,R,S,B] <-> [A,B,R,S].
namespace {
Tensor move_last_to_second(const Tensor& t) {
  Tensor src = t.to(Device::cpu());
  const int64_t A = src.dim(0), R = src.dim(1), S = src.dim(2), B = src.dim(3);
  Tensor out = Tensor::empty({A, B, R, S});
  const float* in = src.f32();
  float* o = out.f32();
  for (int64_t a = 0; a < A; ++a)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t b = 0; b < B; ++b)
          o[((a * B + b) * R + r) * S + s] = in[((a * R + r) * S + s) * B + b];
  return out;
}
Tensor move_second_to_last(const Tensor& t) {
  Tensor src = t.to(Device::cpu());
  const int64_t A = src.dim(0), B = src.dim(1), R = src.dim(2), S = src.dim(3);
  Tensor out = Tensor::empty({A, R, S, B});
  const float* in = src.f32();
  float* o = out.f32();
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          o[((a * R + r) * S + s) * B + b] = in[((a * B + b) * R + r) * S + s];
  return out;
}
}  // namespace

Tensor to_pytorch_layout(const Tensor& t, Layout layout) {
  if (layout == Layout::kVector) return t.to(Device::cpu()).clone();
  return move_last_to_second(t);
}

Tensor from_pytorch_layout(const Tensor& t, Layout layout) {
  if (layout == Layout::kVector) return t.clone();
  return move_second_to_last(t);
}

// ---- Conv2d ----
Conv2d::Conv2d(int in_channels, int out_channels, int kernel, int pad, Init init,
               std::mt19937_64& rng)
    : padding(pad) {
  const double fan_in = double(in_channels) * kernel * kernel;
  const double fan_out = double(out_channels) * kernel * kernel;
  weight = init_weight({out_channels, kernel, kernel, in_channels}, fan_in, fan_out, init, rng);
  bias = zeros_param(out_channels);
}

Tensor Conv2d::forward(const Tensor& x, bool fused_relu) const {
  Conv2dOptions o;
  o.padding = padding;
  o.relu = fused_relu;
  return conv2d(x, weight, bias, o);
}

void Conv2d::collect(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({prefix + ".weight", &weight, Layout::kKRSCasOIHW, true});
  out.push_back({prefix + ".bias", &bias, Layout::kVector, true});
}

// ---- ConvTranspose2d ----
// Each output pixel of a 2x2 stride-2 transposed conv receives exactly one tap per input channel,
// so its true fan-in is C (not C*R*S); He uses that. Glorot uses Keras' fans for the kernel shape.
ConvTranspose2d::ConvTranspose2d(int in_channels, int out_channels, Init init,
                                 std::mt19937_64& rng) {
  const double fan_in = init == Init::kHe ? double(in_channels) : double(out_channels) * 4;
  const double fan_out = double(in_channels) * 4;
  weight = init_weight({in_channels, 2, 2, out_channels}, fan_in, fan_out, init, rng);
  bias = zeros_param(out_channels);
}

Tensor ConvTranspose2d::forward(const Tensor& x) const {
  return conv_transpose2d(x, weight, bias, 2);
}

void ConvTranspose2d::collect(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({prefix + ".weight", &weight, Layout::kCRSKasIOHW, true});
  out.push_back({prefix + ".bias", &bias, Layout::kVector, true});
}

// ---- BatchNorm2d ----
BatchNorm2d::BatchNorm2d(int channels) {
  gamma = Tensor::full({channels}, 1.0f).set_requires_grad(true);
  beta = Tensor::zeros({channels}).set_requires_grad(true);
  running_mean = Tensor::zeros({channels});
  running_var = Tensor::full({channels}, 1.0f);
  const int64_t zero = 0;
  num_batches_tracked = Tensor::from_data(&zero, {});
}

Tensor BatchNorm2d::forward(const Tensor& x, bool training) {
  if (training) ++num_batches_tracked.data<int64_t>()[0];
  return batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum, eps);
}

void BatchNorm2d::collect(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({prefix + ".weight", &gamma, Layout::kVector, true});
  out.push_back({prefix + ".bias", &beta, Layout::kVector, true});
  out.push_back({prefix + ".running_mean", &running_mean, Layout::kVector, false});
  out.push_back({prefix + ".running_var", &running_var, Layout::kVector, false});
  out.push_back({prefix + ".num_batches_tracked", &num_batches_tracked, Layout::kVector, false});
}

}  // namespace unet::model
