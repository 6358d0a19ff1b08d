#include "workflow/train_state.h"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "workflow/checkpoint.h"

namespace unet::workflow {
namespace {

model::UNet on_device(model::UNet net, Device device) {
  net.to(device);
  return net;
}

// JSON has no infinity: an unset best loss is stored as null.
nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

// The "train_state" metadata: the counters and the metrics rows (the tensors travel separately).
std::string progress_to_json(const TrainState& s) {
  nlohmann::json history = nlohmann::json::array();
  for (const EpochMetrics& m : s.history) {
    history.push_back(
        {m.epoch, m.train_loss, m.train_dice, m.val_loss, m.val_dice, m.lr, m.seconds});
  }
  nlohmann::json j = {{"epoch", s.epoch},
                      {"global_step", s.global_step},
                      {"best_val_loss", finite_or_null(s.best_val_loss)},
                      {"best_epoch", s.best_epoch},
                      {"history", history}};
  return j.dump();
}

void progress_from_json(const std::string& text, const std::string& where, TrainState& s) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    s.epoch = j.at("epoch").get<int>();
    s.global_step = j.at("global_step").get<int64_t>();
    s.best_val_loss =
        j.at("best_val_loss").is_null() ? INFINITY : j.at("best_val_loss").get<double>();
    s.best_epoch = j.at("best_epoch").get<int>();
    for (const auto& row : j.at("history")) {
      EpochMetrics m;
      m.epoch = row.at(0).get<int>();
      m.train_loss = row.at(1).get<double>();
      m.train_dice = row.at(2).get<double>();
      m.val_loss = row.at(3).get<double>();
      m.val_dice = row.at(4).get<double>();
      m.lr = row.at(5).get<double>();
      m.seconds = row.at(6).get<double>();
      s.history.push_back(m);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": bad training state in the checkpoint (" +
                             std::string(e.what()) +
                             "); resume from a last.safetensors written by unet_train");
  }
}

}  // namespace

TrainState::TrainState(model::UNet fresh, Device device, float lr, uint64_t seed)
    : net(on_device(std::move(fresh), device)),
      adam(net.parameters(), AdamOptions{lr}),
      loader{seed, 0, 0} {}

void save_train_state(const std::string& path, TrainState& state,
                      std::map<std::string, std::string> metadata) {
  if (state.loader.epoch != state.epoch || state.loader.position != 0) {
    throw std::logic_error("save_train_state: the loader is at batch " +
                           std::to_string(state.loader.position) + " of epoch " +
                           std::to_string(state.loader.epoch) + ", not at the start of epoch " +
                           std::to_string(state.epoch) + "; save at an epoch boundary");
  }
  metadata["train_state"] = progress_to_json(state);
  save_checkpoint(path, state.net, &state.adam, metadata);
}

TrainState restore_train_state(const std::string& path, Device device, float lr, uint64_t seed) {
  const CheckpointContents ckpt = read_checkpoint(path);
  if (ckpt.metadata.count("train_state") == 0) {
    throw std::runtime_error(path +
                             ": no training state in this checkpoint (a model-only file such as "
                             "best.safetensors, or one written by another tool); resume from the "
                             "last.safetensors that unet_train writes");
  }
  TrainState state(load_model(ckpt), device, lr, seed);
  load_optimizer_state(ckpt, state.net, state.adam);
  progress_from_json(ckpt.metadata.at("train_state"), path, state);
  state.loader = {seed, state.epoch, 0};
  return state;
}

}  // namespace unet::workflow
