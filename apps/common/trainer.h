// The training loop behind unet_train: named recipes, validation split by volume, per-epoch
// metrics, best/last checkpoints, exact resume, collapse and non-finite-loss detection.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/kernel_config.h"
#include "model/unet.h"

namespace unet::apps {

enum class LossKind { kDice, kBce, kDiceBce };
LossKind parse_loss(const std::string& text);  // "dice" | "bce" | "dice+bce"
const char* loss_name(LossKind k);

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

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_dice = 0, val_loss = 0, val_dice = 0, lr = 0, seconds = 0;
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  int best_epoch = 0;
  double best_val_loss = 0;
  bool collapse_warned = false;
  std::string best_path, last_path, metrics_path, plot_path;
  double test_dice = -1;  // global Dice of the best model on the test cache (-1: no test cache)
};

// Watches each training step's thresholded prediction (logit > 0) for a collapse to
// all-background. update() returns true on the step where the prediction has been empty for
// `steps` consecutive steps whose targets contained liver; a step with any prediction, or with an
// empty target, starts the count again.
class CollapseDetector {
 public:
  explicit CollapseDetector(int steps) : steps_(steps) {}
  bool update(const float* logits, const float* targets, size_t n);

 private:
  int steps_;
  int streak_ = 0;
};

// Runs the whole training; writes into options.out_dir: best.safetensors, last.safetensors,
// metrics.csv, dice_curve.png/.svg. Progress goes to `log`. Throws on bad input and on a
// non-finite loss (after which last.safetensors still holds the last good epoch).
TrainResult train(const TrainOptions& options, std::ostream& log);

}  // namespace unet::apps
