// The training loop behind unet_train: named recipes, validation split by volume, per-epoch
// metrics, best/last checkpoints, exact resume, collapse and non-finite-loss detection.
// The pieces: train_step.h (one optimisation step), train_state.h (what resume restores),
// evaluate.h (Dice, validation, collapse), train_report.h (metrics.csv, Dice plot).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/kernel_config.h"
#include "model/unet.h"
#include "workflow/evaluate.h"
#include "workflow/train_state.h"
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

struct TrainResult {
  std::vector<EpochMetrics> history;
  int best_epoch = 0;
  double best_val_loss = 0;
  bool collapse_warned = false;
  std::string best_path, last_path, metrics_path, plot_path;
  double test_dice = -1;  // global Dice of the best model on the test cache (-1: no test cache)
};

// Runs the whole training; writes into options.out_dir: best.safetensors, last.safetensors,
// metrics.csv, dice_curve.png/.svg. Progress goes to `log`. Throws on bad input and on a
// non-finite loss (after which last.safetensors still holds the last good epoch).
// In order (trainer.cpp): check_options, load_training_data, set_up_or_resume (a fresh TrainState
// or restore_train_state), make_loader, print_banner; per epoch run_epoch (train_step over the
// loader's batches) and end_of_epoch (validation, checkpoints, metrics); then final_test.
TrainResult train(const TrainOptions& options, std::ostream& log);

}  // namespace unet::workflow
