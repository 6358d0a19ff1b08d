// TrainState: everything a training run carries from one epoch to the next, and everything
// --resume needs to continue bitwise identically. save_train_state writes it into a training
// checkpoint (last.safetensors, format in workflow/checkpoint.h); restore_train_state reads it back.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/optim.h"
#include "io/loader.h"
#include "model/unet.h"

namespace unet::workflow {

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_dice = 0, val_loss = 0, val_dice = 0, lr = 0, seconds = 0;
};

struct TrainState {
  // A fresh run: `net` moved to `device`, Adam (learning rate `lr`) over its parameters with zero
  // moments, no epoch done, the data order at the start of epoch 0 for `seed`.
  TrainState(model::UNet net, Device device, float lr, uint64_t seed);

  model::UNet net;          // parameters and batch-norm running statistics
  Adam adam;                // moments m and v of every parameter, and the step count
  int epoch = 0;            // last completed epoch (1-based; 0 before the first)
  int64_t global_step = 0;  // optimiser steps so far: drives the learning-rate schedule
  double best_val_loss = INFINITY;
  int best_epoch = 0;                 // the epoch best.safetensors holds (0: none yet)
  std::vector<EpochMetrics> history;  // one row per completed epoch
  // Where the data order continues (shuffle and augmentation are functions of seed, epoch and
  // position). States are saved at epoch boundaries only, where this is {seed, epoch, 0}, so the
  // file stores nothing for it and restore_train_state rebuilds it.
  io::LoaderState loader;
};

// Writes the whole state to `path` (atomically) as a training checkpoint: the model's tensors,
// Adam's moments and step count, and metadata "train_state" (epoch, step, best val loss and epoch,
// metrics rows) besides `metadata` (preprocess, recipe, loss). Throws std::logic_error if the
// loader is not at the start of epoch state.epoch (only epoch boundaries can be saved).
void save_train_state(const std::string& path, TrainState& state,
                      std::map<std::string, std::string> metadata);

// The state saved by save_train_state, with the model and Adam's moments on `device` and Adam's
// learning rate `lr` (the schedule sets it each step). `seed` must be the run's seed (the loader
// checks it). Throws naming `path` for a file that is not a training checkpoint.
TrainState restore_train_state(const std::string& path, Device device, float lr, uint64_t seed);

}  // namespace unet::workflow
