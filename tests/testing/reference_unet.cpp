#include "tests/testing/reference_unet.h"

#include "kernels/batch_norm2d/batch_norm2d.h"
#include "kernels/bce_with_logits/bce_with_logits.h"
#include "kernels/concat/concat.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/conv_transpose2d/conv_transpose2d.h"
#include "kernels/dice_loss/dice_loss.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/max_pool2d/max_pool2d.h"

namespace unet::testing {

namespace {

struct Act {
  int N, H, W, C;
  std::vector<double> v;
};

Act conv(const RefParams& p, const std::string& name, const Act& x, int pad) {
  const std::vector<double>& w = p.at(name + ".weight");
  const std::vector<double>& b = p.at(name + ".bias");
  kernels::Conv2dShape s;
  s.N = x.N, s.H = x.H, s.W = x.W, s.C = x.C;
  s.K = static_cast<int>(b.size());
  const int rs = static_cast<int>(w.size() / (b.size() * x.C));
  s.R = s.S = rs == 9 ? 3 : 1;
  s.pad_h = s.pad_w = pad;
  Act y{s.N, s.P(), s.Q(), s.K, std::vector<double>(s.y_size())};
  kernels::conv2d_forward_ref<double>(s, x.v.data(), w.data(), b.data(), y.v.data(), false);
  return y;
}

void activate(const model::UNetConfig& c, Act& a) {
  if (c.activation == model::Activation::kLeakyRelu) {
    kernels::leaky_relu_forward_ref<double>(a.v.size(), c.leaky_slope, a.v.data(), a.v.data());
  } else {
    kernels::relu_forward_ref<double>(a.v.size(), a.v.data(), a.v.data());
  }
}

void batch_norm(const RefParams& p, const std::string& name, Act& a) {
  kernels::BatchNormShape s{int64_t(a.N) * a.H * a.W, a.C};
  std::vector<double> rm(a.C, 0.0), rv(a.C, 1.0), sm(a.C), si(a.C), y(a.v.size());
  kernels::batch_norm2d_forward_train_ref<double>(s, a.v.data(), p.at(name + ".weight").data(),
                                                  p.at(name + ".bias").data(), 1e-5, 0.1, rm.data(),
                                                  rv.data(), sm.data(), si.data(), y.data());
  a.v = y;
}

Act block(const model::UNetConfig& c, const RefParams& p, const std::string& level, const Act& x) {
  Act h = x;
  for (int j = 1; j <= 2; ++j) {
    h = conv(p, level + ".conv" + std::to_string(j), h, 1);
    if (c.norm == model::Norm::kBatch) batch_norm(p, level + ".bn" + std::to_string(j), h);
    activate(c, h);
  }
  return h;
}

}  // namespace

RefParams reference_params(model::UNet& net) {
  RefParams out;
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.tensor->dtype() != DType::kFloat32) continue;  // batch norm's step counter
    std::vector<float> f = p.tensor->to_vector();
    out[p.name] = std::vector<double>(f.begin(), f.end());
  }
  return out;
}

double reference_unet_loss(const model::UNetConfig& c, const RefParams& p, const RefBatch& batch,
                           RefLoss loss) {
  Act h{batch.N, batch.H, batch.W, c.in_channels, batch.x};
  std::vector<Act> skips;
  for (int i = 0; i < c.depth; ++i) {
    h = block(c, p, "enc" + std::to_string(i), h);
    if (i + 1 < c.depth) {
      skips.push_back(h);
      kernels::MaxPool2dShape s;
      s.N = h.N, s.H = h.H, s.W = h.W, s.C = h.C;
      Act y{s.N, s.P(), s.Q(), s.C, std::vector<double>(s.y_size())};
      kernels::max_pool2d_forward_ref<double>(s, h.v.data(), y.v.data());
      h = y;
    }
  }
  for (int i = c.depth - 2; i >= 0; --i) {
    const std::string up = "up" + std::to_string(i);
    const std::vector<double>& b = p.at(up + ".bias");
    kernels::ConvTranspose2dShape s;
    s.N = h.N, s.H = h.H, s.W = h.W, s.C = h.C, s.K = static_cast<int>(b.size());
    Act u{s.N, s.P(), s.Q(), s.K, std::vector<double>(s.y_size())};
    kernels::conv_transpose2d_forward_ref<double>(s, h.v.data(), p.at(up + ".weight").data(),
                                                  b.data(), u.v.data());
    const Act& skip = skips[i];
    kernels::ConcatShape cs{int64_t(u.N) * u.H * u.W, u.C, skip.C};
    Act cat{u.N, u.H, u.W, u.C + skip.C, std::vector<double>(cs.pixels * (u.C + skip.C))};
    kernels::concat_forward_ref<double>(cs, u.v.data(), skip.v.data(), cat.v.data());
    h = block(c, p, "dec" + std::to_string(i), cat);
  }
  Act logits = conv(p, "head", h, 0);
  const int64_t n = static_cast<int64_t>(logits.v.size());
  kernels::DiceSums sums;
  double value =
      kernels::dice_loss_forward_ref<double>(n, logits.v.data(), batch.target.data(), 1.0, &sums);
  if (loss == RefLoss::kDiceBce) {
    value += kernels::bce_with_logits_forward_ref<double>(n, logits.v.data(), batch.target.data());
  }
  return value;
}

}  // namespace unet::testing
