// Checkpoint files: safetensors with the model's tensors under their public PyTorch names and
// layouts (so `load_state_dict` in PyTorch reads them), plus string metadata:
//   "format"        "unet-engine-checkpoint-1"
//   "config"        JSON of the UNetConfig (depth, base, norm, activation, init, channels)
//   "preprocess"    JSON of the slice options and normalisation the model was trained on
//                   (window, size, resample, mean, std), so unet_predict preprocesses identically
//   "train_state"   JSON (epoch, global step, best val loss, loader state, recipe, metrics rows)
// Optimizer moments are stored as tensors "optim.<slot>.<param name>" (engine layout, float32) and
// only in training checkpoints (last.safetensors), so best.safetensors stays a pure model file.
// Files are written atomically: a crash mid-write leaves the previous checkpoint intact.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "engine/safetensors.h"
#include "io/slicing.h"
#include "model/unet.h"

namespace unet::workflow {

std::string config_to_json(const model::UNetConfig& c);
model::UNetConfig config_from_json(const std::string& json, const std::string& where);

// How slices were made for training: unet_predict applies the same to new volumes.
struct Preprocess {
  io::SliceOptions slice;  // size, resample, HU window
  io::NormStats norm;      // training-set mean/std applied after windowing
};
std::string preprocess_to_json(const Preprocess& p);
Preprocess preprocess_from_json(const std::string& json, const std::string& where);

struct CheckpointContents {
  SafetensorsContents file;
  model::UNetConfig config;
  std::map<std::string, std::string> metadata;  // everything, including "config"
  std::string path;
  // The "preprocess" metadata; throws naming the file when absent.
  Preprocess preprocess() const;
};

// Writes the model (and, when optimizer != nullptr, its state) with the given extra metadata.
void save_checkpoint(const std::string& path, model::UNet& net, Optimizer* optimizer,
                     const std::map<std::string, std::string>& extra_metadata);
// Reads and validates the file (exists, safetensors well formed, format tag, config JSON).
// Errors: "<path>: <what>; <what to do>".
CheckpointContents read_checkpoint(const std::string& path);
// A model built from the checkpoint's config with its weights loaded (on the CPU).
model::UNet load_model(const CheckpointContents& ckpt);
// What unet_predict and unet_serve run: load_model, batch norm folded into the convs
// (UNet::folded_for_inference), on `device`, in eval mode. Describe it by ckpt.config.
model::UNet load_inference_model(const CheckpointContents& ckpt, Device device);
// Restores optimizer moments and step count saved by save_checkpoint; throws if absent.
void load_optimizer_state(const CheckpointContents& ckpt, model::UNet& net, Optimizer& optimizer);

}  // namespace unet::workflow
