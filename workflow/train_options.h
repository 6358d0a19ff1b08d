// What a training run is asked to do: every choice of unet_train, the named recipes that set
// them, and the learning-rate schedule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/kernel_config.h"
#include "model/unet.h"
#include "workflow/train_step.h"

namespace unet::workflow {

enum class Schedule { kConstant, kWarmupCosine };
Schedule parse_schedule(const std::string& text);  // "constant" | "cosine"
const char* schedule_name(Schedule s);

struct TrainOptions {
  std::string cache_dir;  // unet_prepare's output: holds train/ (and test/)
  std::string out_dir;
  std::string recipe = "default";
  Device device = Device::cpu();
  MathMode precision = MathMode::kFp32;
  model::UNetConfig config;
  LossKind loss = LossKind::kDiceBce;
  int epochs = 20;
  int batch = 10;
  float lr = 1e-3f;
  Schedule schedule = Schedule::kWarmupCosine;
  double warmup_epochs = 1.0;
  double val_fraction = 0.2;
  uint64_t seed = 1;
  bool augment = false;
  std::string resume;               // a last.safetensors to continue from
  int64_t max_steps_per_epoch = 0;  // 0: the whole training split each epoch
  int stop_after_epoch = 0;         // > 0: stop after this epoch (resume later with --resume)
  int collapse_steps = 50;          // warn after this many steps with an empty prediction
  int progress_every = 0;           // progress line every N steps (0: about 10 per epoch)
};

// Fills the recipe's settings into `options`. "seed": the original Keras notebook (no
// normalisation layers, glorot init, Dice loss smooth 1, Adam 1e-3 constant, batch 10, 20 epochs).
// "default": the recipe chosen by measurement (docs/TRAINING.md). Throws on an unknown name.
void apply_recipe(const std::string& name, TrainOptions& options);
std::vector<std::string> recipe_names();

// The learning rate of optimiser step `step` (0-based, counted over the whole run): constant, or a
// linear warm-up over warmup_epochs, then cosine decay towards 0 at the end of the last epoch.
double learning_rate(const TrainOptions& options, int64_t step, int64_t steps_per_epoch);

}  // namespace unet::workflow
