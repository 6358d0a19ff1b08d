#include "workflow/train_options.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace unet::workflow {

Schedule parse_schedule(const std::string& text) {
  if (text == "constant") return Schedule::kConstant;
  if (text == "cosine" || text == "warmup-cosine") return Schedule::kWarmupCosine;
  throw std::invalid_argument("unknown learning-rate schedule '" + text +
                              "'; use constant or cosine");
}

const char* schedule_name(Schedule s) { return s == Schedule::kConstant ? "constant" : "cosine"; }

std::vector<std::string> recipe_names() { return {"default", "seed"}; }

void apply_recipe(const std::string& name, TrainOptions& o) {
  o.recipe = name;
  o.batch = 10;
  o.epochs = 20;
  o.lr = 1e-3f;
  if (name == "seed") {
    o.config.norm = model::Norm::kNone;
    o.config.init = model::Init::kGlorotUniform;
    o.loss = LossKind::kDice;
    o.schedule = Schedule::kConstant;
    o.augment = false;
  } else if (name == "default") {
    // Chosen by measurement (docs/TRAINING.md): batch norm after each conv, He initialisation,
    // Dice+BCE, one warm-up epoch then cosine decay.
    o.config.norm = model::Norm::kBatch;
    o.config.init = model::Init::kHe;
    o.loss = LossKind::kDiceBce;
    o.schedule = Schedule::kWarmupCosine;
    o.warmup_epochs = 1.0;
    o.augment = false;
  } else {
    throw std::invalid_argument("unknown recipe '" + name + "'; use default or seed");
  }
}

double learning_rate(const TrainOptions& o, int64_t step, int64_t steps_per_epoch) {
  if (o.schedule == Schedule::kConstant) return o.lr;
  const double total = double(steps_per_epoch) * o.epochs;
  const double warmup = std::max(1.0, o.warmup_epochs * steps_per_epoch);
  if (step < warmup) return o.lr * (step + 1) / warmup;
  const double progress = std::min(1.0, (step - warmup) / std::max(1.0, total - warmup));
  return o.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace unet::workflow
