// What unet_train records for people besides checkpoints: the per-epoch metrics CSV and the
// Dice-vs-epoch plot.
#pragma once

#include <string>
#include <vector>

#include "workflow/train_state.h"

namespace unet::workflow {

// metrics.csv: epoch,train_loss,train_dice,val_loss,val_dice,lr,seconds (written atomically).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history);
// dice_curve.png and dice_curve.svg in `dir`: train and validation Dice per epoch.
// Returns the PNG's path.
std::string write_dice_plot(const std::string& dir, const std::vector<EpochMetrics>& history);

}  // namespace unet::workflow
