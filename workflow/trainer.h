// The training loop behind unet_train: named recipes, validation split by volume, per-epoch
// metrics, best/last checkpoints, exact resume, collapse and non-finite-loss detection.
// The pieces: train_options.h (options, recipes, learning-rate schedule), train_step.h (one
// optimisation step), train_state.h (what resume restores), evaluate.h (Dice, validation,
// collapse) and train_report.h (metrics.csv, Dice plot).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "workflow/evaluate.h"
#include "workflow/train_options.h"
#include "workflow/train_state.h"
#include "workflow/train_step.h"

namespace unet::workflow {

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
