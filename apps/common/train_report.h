// What unet_train records besides weights: the resumable training state (stored as checkpoint
// metadata), the per-epoch metrics CSV and the Dice-vs-epoch plot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/trainer.h"

namespace unet::apps {

struct TrainState {
  int epoch = 0;  // last completed epoch (1-based)
  int64_t global_step = 0;
  double best_val_loss = 0;
  int best_epoch = 0;
  std::vector<EpochMetrics> history;
};

std::string train_state_to_json(const TrainState& s);
TrainState train_state_from_json(const std::string& json, const std::string& where);

// metrics.csv: epoch,train_loss,train_dice,val_loss,val_dice,lr,seconds (written atomically).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history);
// dice_curve.png and dice_curve.svg in `dir`: train and validation Dice per epoch.
// Returns the PNG's path.
std::string write_dice_plot(const std::string& dir, const std::vector<EpochMetrics>& history);

}  // namespace unet::apps
