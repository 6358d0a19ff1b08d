#include "model/unet.h"

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/ops.h"

namespace unet::model {

Norm parse_norm(const std::string& text) {
  if (text == "none") return Norm::kNone;
  if (text == "batch" || text == "batchnorm" || text == "bn") return Norm::kBatch;
  throw std::invalid_argument("unknown normalisation '" + text + "'; use none or batch");
}

Activation parse_activation(const std::string& text) {
  if (text == "relu") return Activation::kRelu;
  if (text == "leaky_relu" || text == "leaky") return Activation::kLeakyRelu;
  throw std::invalid_argument("unknown activation '" + text + "'; use relu or leaky_relu");
}

const char* norm_name(Norm n) { return n == Norm::kBatch ? "batch" : "none"; }
const char* activation_name(Activation a) {
  return a == Activation::kLeakyRelu ? "leaky_relu" : "relu";
}

std::string UNetConfig::describe() const {
  std::ostringstream out;
  out << "depth " << depth << ", base " << base << ", norm " << norm_name(norm) << ", "
      << activation_name(activation) << ", " << init_name(init) << " init";
  return out.str();
}

void UNetConfig::validate() const {
  if (depth < 1 || depth > 8) {
    throw std::invalid_argument("UNet: depth must be 1..8, got " + std::to_string(depth));
  }
  if (base < 1 || in_channels < 1 || out_channels < 1) {
    throw std::invalid_argument("UNet: base width and channel counts must be >= 1 (base " +
                                std::to_string(base) + ", in " + std::to_string(in_channels) +
                                ", out " + std::to_string(out_channels) + ")");
  }
}

UNet::UNet(const UNetConfig& config, uint64_t seed) : config_(config) {
  config_.validate();
  std::mt19937_64 rng(seed);
  const bool bn = config_.norm == Norm::kBatch;
  const Init init = config_.init;
  int in = config_.in_channels;
  for (int i = 0; i < config_.depth; ++i) {
    const int width = config_.base << i;
    Level level;
    level.conv1 = Conv2d(in, width, 3, 1, init, rng);
    level.conv2 = Conv2d(width, width, 3, 1, init, rng);
    if (bn) {
      level.bn1 = BatchNorm2d(width);
      level.bn2 = BatchNorm2d(width);
    }
    enc_.push_back(std::move(level));
    in = width;
  }
  // Decoder levels are built bottom-up (depth-2 .. 0) so the RNG order follows the data flow.
  up_.resize(config_.depth - 1);
  dec_.resize(config_.depth - 1);
  for (int i = config_.depth - 2; i >= 0; --i) {
    const int width = config_.base << i;
    up_[i] = ConvTranspose2d(width * 2, width, init, rng);
    dec_[i].conv1 = Conv2d(width * 2, width, 3, 1, init, rng);
    dec_[i].conv2 = Conv2d(width, width, 3, 1, init, rng);
    if (bn) {
      dec_[i].bn1 = BatchNorm2d(width);
      dec_[i].bn2 = BatchNorm2d(width);
    }
  }
  head_ = Conv2d(config_.base, config_.out_channels, 1, 0, init, rng);
}

Tensor UNet::activate(const Tensor& x) const {
  return config_.activation == Activation::kLeakyRelu ? leaky_relu(x, config_.leaky_slope)
                                                      : relu(x);
}

// conv -> [BN] -> activation, twice. Without BN, a ReLU is fused into the conv's epilogue.
Tensor UNet::block(Level& level, const Tensor& x) {
  const bool fuse = config_.norm == Norm::kNone && config_.activation == Activation::kRelu;
  Tensor h = x;
  Conv2d* convs[2] = {&level.conv1, &level.conv2};
  BatchNorm2d* norms[2] = {&level.bn1, &level.bn2};
  for (int j = 0; j < 2; ++j) {
    h = convs[j]->forward(h, fuse);
    if (fuse) continue;
    if (config_.norm == Norm::kBatch) h = norms[j]->forward(h, training_);
    h = activate(h);
  }
  return h;
}

Tensor UNet::forward(const Tensor& x) {
  if (x.rank() != 4 || x.dim(3) != config_.in_channels) {
    throw std::invalid_argument("UNet: input must be NHWC with " +
                                std::to_string(config_.in_channels) + " channel(s), got " +
                                x.describe());
  }
  const int m = config_.size_multiple();
  if (x.dim(1) % m != 0 || x.dim(2) % m != 0) {
    throw std::invalid_argument("UNet: input " + x.describe() + " has H, W not multiples of " +
                                std::to_string(m) + " (2^(depth-1)); resize or pad the slices");
  }
  if (x.device() != device_) {
    throw std::invalid_argument("UNet: input " + x.describe() + " is not on the model's device " +
                                device_.str());
  }
  std::vector<Tensor> skips;
  Tensor h = x;
  for (int i = 0; i < config_.depth; ++i) {
    h = block(enc_[i], h);
    if (i + 1 < config_.depth) {
      skips.push_back(h);
      h = max_pool2d(h, 2, 2);
    }
  }
  for (int i = config_.depth - 2; i >= 0; --i) {
    h = concat_channels(up_[i].forward(h), skips[i]);
    skips[i] =
        Tensor();  // let the skip go as soon as it is consumed (autograd keeps what it needs)
    h = block(dec_[i], h);
  }
  return head_.forward(h, false);
}

std::vector<ParamRef> UNet::named_tensors() {
  std::vector<ParamRef> out;
  const bool bn = config_.norm == Norm::kBatch;
  auto level_refs = [&](const std::string& name, Level& level) {
    level.conv1.collect(name + ".conv1", out);
    level.conv2.collect(name + ".conv2", out);
    if (bn) {
      level.bn1.collect(name + ".bn1", out);
      level.bn2.collect(name + ".bn2", out);
    }
  };
  for (int i = 0; i < config_.depth; ++i) level_refs("enc" + std::to_string(i), enc_[i]);
  for (int i = config_.depth - 2; i >= 0; --i) {
    up_[i].collect("up" + std::to_string(i), out);
    level_refs("dec" + std::to_string(i), dec_[i]);
  }
  head_.collect("head", out);
  return out;
}

namespace {

// Scales conv output channel k by scale[k] and shifts its bias: conv then batch norm (eval) as
// one conv. Weights KRSC on the CPU, so channel k is one contiguous run of R*S*C values.
void fold_into_conv(Conv2d& conv, const BatchNorm2d& bn) {
  const Tensor gamma = bn.gamma.to(Device::cpu()), beta = bn.beta.to(Device::cpu());
  const Tensor mean = bn.running_mean.to(Device::cpu()), var = bn.running_var.to(Device::cpu());
  float* w = conv.weight.f32();
  float* b = conv.bias.f32();
  const int64_t k_count = conv.weight.dim(0), per_k = conv.weight.numel() / k_count;
  for (int64_t k = 0; k < k_count; ++k) {
    // In double, so the folded weights carry one float rounding each, not a chain of them.
    const double scale = double(gamma.f32()[k]) / std::sqrt(double(var.f32()[k]) + bn.eps);
    for (int64_t i = 0; i < per_k; ++i) w[k * per_k + i] = float(w[k * per_k + i] * scale);
    b[k] = float((double(b[k]) - mean.f32()[k]) * scale + beta.f32()[k]);
  }
}

}  // namespace

UNet UNet::folded_for_inference() {
  UNetConfig folded_config = config_;
  folded_config.norm = Norm::kNone;
  UNet folded(folded_config, 0);  // on the CPU; every tensor is overwritten below
  std::map<std::string, Tensor*> by_name;
  for (const ParamRef& p : folded.named_tensors()) by_name[p.name] = p.tensor;
  for (const ParamRef& p : named_tensors()) {
    auto it = by_name.find(p.name);  // batch-norm tensors have no counterpart
    if (it != by_name.end()) it->second->copy_from(p.tensor->to(Device::cpu()));
  }
  if (config_.norm == Norm::kBatch) {
    auto fold_level = [](const Level& from, Level& into) {
      fold_into_conv(into.conv1, from.bn1);
      fold_into_conv(into.conv2, from.bn2);
    };
    for (size_t i = 0; i < enc_.size(); ++i) fold_level(enc_[i], folded.enc_[i]);
    for (size_t i = 0; i < dec_.size(); ++i) fold_level(dec_[i], folded.dec_[i]);
  }
  folded.to(device_);
  folded.set_training(false);
  return folded;
}

std::vector<Tensor> UNet::parameters() {
  std::vector<Tensor> params;
  for (const ParamRef& p : named_tensors()) {
    if (p.trainable) params.push_back(*p.tensor);
  }
  return params;
}

int64_t UNet::parameter_count() {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

void UNet::to(Device device) {
  for (ParamRef& p : named_tensors()) {
    if (p.tensor->dtype() != DType::kFloat32) continue;  // counters stay on the host
    const bool grad = p.tensor->requires_grad();
    *p.tensor = p.tensor->to(device).detach();
    p.tensor->set_requires_grad(grad);
  }
  device_ = device;
}

std::vector<NamedTensor> UNet::state_dict() {
  std::vector<NamedTensor> out;
  for (const ParamRef& p : named_tensors())
    out.push_back({p.name, to_pytorch_layout(*p.tensor, p.layout)});
  return out;
}

void UNet::load_state_dict(const std::vector<NamedTensor>& tensors, const std::string& source) {
  std::map<std::string, const Tensor*> by_name;
  for (const NamedTensor& t : tensors) by_name[t.name] = &t.tensor;
  std::vector<ParamRef> refs = named_tensors();
  std::set<std::string> expected;
  // Check everything first, so a bad file leaves the model untouched.
  for (const ParamRef& p : refs) {
    expected.insert(p.name);
    auto it = by_name.find(p.name);
    if (it == by_name.end()) {
      throw std::runtime_error(source + ": missing tensor '" + p.name + "' for a U-Net with " +
                               config_.describe() +
                               "; the checkpoint is from another configuration");
    }
    const Shape want = pytorch_shape(p.tensor->shape(), p.layout);
    if (it->second->dtype() != p.tensor->dtype() || it->second->shape() != want) {
      throw std::runtime_error(source + ": tensor '" + p.name + "' is " + it->second->describe() +
                               ", expected " + dtype_name(p.tensor->dtype()) + shape_str(want) +
                               "; the checkpoint is from another configuration");
    }
  }
  for (const auto& [name, t] : by_name) {
    if (!expected.count(name)) {
      throw std::runtime_error(source + ": unexpected tensor '" + name + "' for a U-Net with " +
                               config_.describe() +
                               "; the checkpoint is from another configuration");
    }
  }
  for (ParamRef& p : refs) {
    Tensor engine_layout = from_pytorch_layout(*by_name[p.name], p.layout).to(p.tensor->device());
    p.tensor->copy_from(engine_layout);
  }
}

}  // namespace unet::model
