#include "workflow/checkpoint.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"

namespace unet::workflow {

namespace {
constexpr const char* kFormat = "unet-engine-checkpoint-1";

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(
        path + ": cannot open the checkpoint (missing or unreadable); check the path");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}
}  // namespace

std::string config_to_json(const model::UNetConfig& c) {
  nlohmann::json j = {{"in_channels", c.in_channels},
                      {"out_channels", c.out_channels},
                      {"depth", c.depth},
                      {"base", c.base},
                      {"norm", model::norm_name(c.norm)},
                      {"activation", model::activation_name(c.activation)},
                      {"init", model::init_name(c.init)},
                      {"leaky_slope", c.leaky_slope}};
  return j.dump();
}

model::UNetConfig config_from_json(const std::string& text, const std::string& where) {
  model::UNetConfig c;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    c.in_channels = j.at("in_channels").get<int>();
    c.out_channels = j.at("out_channels").get<int>();
    c.depth = j.at("depth").get<int>();
    c.base = j.at("base").get<int>();
    c.norm = model::parse_norm(j.at("norm").get<std::string>());
    c.activation = model::parse_activation(j.at("activation").get<std::string>());
    c.init = model::parse_init(j.at("init").get<std::string>());
    c.leaky_slope = j.value("leaky_slope", 0.01f);
    c.validate();
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": bad model config in the checkpoint metadata (" + e.what() +
                             "); the file was not written by unet_train");
  }
  return c;
}

std::string preprocess_to_json(const Preprocess& p) {
  nlohmann::json j = {{"height", p.slice.height},
                      {"width", p.slice.width},
                      {"resample", io::resample_name(p.slice.resample)},
                      {"window", p.slice.window.enabled},
                      {"window_lo", p.slice.window.lo},
                      {"window_hi", p.slice.window.hi},
                      {"mean", p.norm.mean},
                      {"std", p.norm.std}};
  return j.dump();
}

Preprocess preprocess_from_json(const std::string& text, const std::string& where) {
  Preprocess p;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    p.slice.height = j.at("height").get<int>();
    p.slice.width = j.at("width").get<int>();
    p.slice.resample = io::parse_resample(j.at("resample").get<std::string>());
    p.slice.window.enabled = j.at("window").get<bool>();
    p.slice.window.lo = j.at("window_lo").get<float>();
    p.slice.window.hi = j.at("window_hi").get<float>();
    p.norm.mean = j.at("mean").get<double>();
    p.norm.std = j.at("std").get<double>();
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": bad preprocessing metadata (" + e.what() +
                             "); the file was not written by unet_train");
  }
  return p;
}

Preprocess CheckpointContents::preprocess() const {
  auto it = metadata.find("preprocess");
  if (it == metadata.end()) {
    throw std::runtime_error(
        path + ": checkpoint has no preprocessing metadata; it was not written by unet_train");
  }
  return preprocess_from_json(it->second, path);
}

void save_checkpoint(const std::string& path, model::UNet& net, Optimizer* optimizer,
                     const std::map<std::string, std::string>& extra_metadata) {
  std::vector<NamedTensor> tensors = net.state_dict();
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata["format"] = kFormat;
  metadata["config"] = config_to_json(net.config());
  if (optimizer) {
    // Optimizer state lines up with the trainable parameters, in named_tensors() order.
    std::vector<std::string> names;
    for (const model::ParamRef& p : net.named_tensors()) {
      if (p.trainable) names.push_back(p.name);
    }
    const auto state = optimizer->state();
    const size_t per_slot = names.size();
    if (per_slot == 0 || state.size() % per_slot != 0) {
      throw std::logic_error(
          "save_checkpoint: optimizer state does not match the model's parameters");
    }
    for (size_t i = 0; i < state.size(); ++i) {
      tensors.push_back({"optim." + state[i].first + "." + names[i % per_slot],
                         state[i].second->to(Device::cpu())});
    }
    metadata["optim_step"] = std::to_string(optimizer->step_count());
  }
  const std::string bytes = encode_safetensors(tensors, metadata);
  io::write_file_atomic(path, bytes.data(), bytes.size());
}

CheckpointContents read_checkpoint(const std::string& path) {
  CheckpointContents ckpt;
  ckpt.path = path;
  ckpt.file = decode_safetensors(read_whole_file(path), path);
  ckpt.metadata = ckpt.file.metadata;
  auto it = ckpt.metadata.find("format");
  if (it == ckpt.metadata.end() || it->second != kFormat) {
    throw std::runtime_error(path +
                             ": not a unet_train checkpoint (metadata 'format' is missing or not " +
                             std::string(kFormat) + "); pass a file written by unet_train");
  }
  auto cfg = ckpt.metadata.find("config");
  if (cfg == ckpt.metadata.end())
    throw std::runtime_error(path + ": checkpoint metadata has no model config");
  ckpt.config = config_from_json(cfg->second, path);
  return ckpt;
}

model::UNet load_model(const CheckpointContents& ckpt) {
  model::UNet net(ckpt.config, 0);
  std::vector<NamedTensor> model_tensors;
  for (const NamedTensor& t : ckpt.file.tensors) {
    if (t.name.rfind("optim.", 0) != 0) model_tensors.push_back(t);
  }
  net.load_state_dict(model_tensors, ckpt.path);
  return net;
}

model::UNet load_inference_model(const CheckpointContents& ckpt, Device device) {
  model::UNet folded = load_model(ckpt).folded_for_inference();
  folded.to(device);
  return folded;
}

void load_optimizer_state(const CheckpointContents& ckpt, model::UNet& net, Optimizer& optimizer) {
  std::vector<std::string> names;
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.trainable) names.push_back(p.name);
  }
  auto state = optimizer.state();
  for (size_t i = 0; i < state.size(); ++i) {
    const std::string name = "optim." + state[i].first + "." + names[i % names.size()];
    if (!ckpt.file.has(name)) {
      throw std::runtime_error(
          ckpt.path + ": no optimizer state '" + name +
          "'; resume from last.safetensors (best.safetensors holds weights only)");
    }
    const Tensor& saved = ckpt.file.get(name);
    if (saved.shape() != state[i].second->shape()) {
      throw std::runtime_error(ckpt.path + ": optimizer state '" + name + "' has shape " +
                               shape_str(saved.shape()) + ", expected " +
                               shape_str(state[i].second->shape()));
    }
    state[i].second->copy_from(saved);
  }
  auto step = ckpt.metadata.find("optim_step");
  if (step == ckpt.metadata.end())
    throw std::runtime_error(ckpt.path + ": no optimizer step count in metadata");
  optimizer.set_step_count(std::stoll(step->second));
}

}  // namespace unet::workflow
