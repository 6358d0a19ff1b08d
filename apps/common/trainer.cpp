#include "apps/common/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "apps/common/checkpoint.h"
#include "apps/common/train_report.h"
#include "engine/autograd.h"
#include "engine/cuda_backend.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "io/loader.h"
#include "io/slice_cache.h"

namespace unet::apps {

LossKind parse_loss(const std::string& text) {
  if (text == "dice") return LossKind::kDice;
  if (text == "bce") return LossKind::kBce;
  if (text == "dice+bce" || text == "dice_bce") return LossKind::kDiceBce;
  throw std::invalid_argument("unknown loss '" + text + "'; use dice, bce or dice+bce");
}

const char* loss_name(LossKind k) {
  return k == LossKind::kDice ? "dice" : k == LossKind::kBce ? "bce" : "dice+bce";
}

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

namespace {

double learning_rate(const TrainOptions& o, int64_t step, int64_t steps_per_epoch) {
  if (o.schedule == Schedule::kConstant) return o.lr;
  const double total = double(steps_per_epoch) * o.epochs;
  const double warmup = std::max(1.0, o.warmup_epochs * steps_per_epoch);
  if (step < warmup) return o.lr * (step + 1) / warmup;
  const double progress = std::min(1.0, (step - warmup) / std::max(1.0, total - warmup));
  return o.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

Tensor compute_loss(LossKind kind, const Tensor& logits, const Tensor& target) {
  switch (kind) {
    case LossKind::kDice:
      return dice_loss(logits, target, 1.0f);
    case LossKind::kBce:
      return bce_with_logits(logits, target);
    case LossKind::kDiceBce:
      return add(dice_loss(logits, target, 1.0f), bce_with_logits(logits, target));
  }
  return Tensor();
}

// Thresholded Dice counts (prediction = logit > 0, i.e. probability > 0.5), summed over an epoch.
struct DiceCounts {
  double intersection = 0, predicted = 0, truth = 0;
  void add(const std::vector<float>& logits, const float* target) {
    for (size_t i = 0; i < logits.size(); ++i) {
      const bool p = logits[i] > 0.0f, t = target[i] > 0.5f;
      intersection += p && t;
      predicted += p;
      truth += t;
    }
  }
  double dice() const {
    const double denom = predicted + truth;
    return denom == 0 ? 1.0 : 2.0 * intersection / denom;
  }
};

std::string fmt_duration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << (s / 60) % 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

struct Evaluation {
  double loss = 0, dice = 0;
};

// Loss and Dice over a fixed list of slices in evaluation mode (batch-norm running statistics).
Evaluation evaluate(model::UNet& net, const io::SliceCache& cache,
                    const std::vector<int64_t>& indices, const TrainOptions& o) {
  Evaluation ev;
  if (indices.empty()) return ev;
  NoGradGuard no_grad;
  net.set_training(false);
  const int h = cache.height(), w = cache.width();
  const int64_t hw = int64_t(h) * w;
  DiceCounts counts;
  double loss_sum = 0;
  int batches = 0;
  std::vector<float> images, masks;
  for (size_t start = 0; start < indices.size(); start += o.batch) {
    const int n = static_cast<int>(std::min<size_t>(o.batch, indices.size() - start));
    images.resize(n * hw);
    masks.resize(n * hw);
    for (int b = 0; b < n; ++b) {
      const int64_t s = indices[start + b];
      std::copy_n(cache.images.data() + s * hw, hw, images.data() + b * hw);
      for (int64_t i = 0; i < hw; ++i) masks[b * hw + i] = cache.masks[s * hw + i];
    }
    Tensor x = Tensor::from_data(images.data(), {n, h, w, 1}, o.device);
    Tensor t = Tensor::from_data(masks.data(), {n, h, w, 1}, o.device);
    Tensor logits = net.forward(x);
    loss_sum += compute_loss(o.loss, logits, t).item();
    ++batches;
    counts.add(logits.to_vector(), masks.data());
  }
  net.set_training(true);
  ev.loss = loss_sum / batches;
  ev.dice = counts.dice();
  return ev;
}

}  // namespace

bool CollapseDetector::update(const float* logits, const float* targets, size_t n) {
  bool any_pred = false, any_truth = false;
  for (size_t i = 0; i < n; ++i) {
    any_pred |= logits[i] > 0.0f;
    any_truth |= targets[i] > 0.5f;
  }
  streak_ = (!any_pred && any_truth) ? streak_ + 1 : 0;
  return streak_ == steps_;
}

TrainResult train(const TrainOptions& o, std::ostream& log) {
  if (o.out_dir.empty()) throw std::invalid_argument("unet_train: --out is required");
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0)) {
    throw std::invalid_argument("unet_train: epochs, batch and lr must be positive (epochs " +
                                std::to_string(o.epochs) + ", batch " + std::to_string(o.batch) +
                                ")");
  }
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) {
    throw std::invalid_argument("unet_train: --val-fraction must be in [0, 1)");
  }
  if (o.device.is_cuda()) require_cuda("unet_train --device cuda");
  kernel_config().math = o.precision;

  const std::string train_dir = (std::filesystem::path(o.cache_dir) / "train").string();
  io::SliceCache cache = io::read_slice_cache(train_dir);
  if (cache.num_slices() == 0) {
    throw std::runtime_error(train_dir +
                             ": the training cache has no slices; check unet_prepare's output");
  }
  if (o.recipe == "seed" && cache.manifest.options.window.enabled) {
    log << "note: the seed recipe used mean/std normalisation without an HU window; this cache was "
           "prepared with a window (rerun unet_prepare --no-window to match the original "
           "exactly)\n";
  }
  const int h = cache.height(), w = cache.width();
  const io::SplitIndices split =
      io::split_by_volume(cache.manifest.volume_of_slice, o.val_fraction, o.seed);
  if (split.train.empty())
    throw std::runtime_error(train_dir + ": no training slices left after the validation split");

  std::filesystem::create_directories(o.out_dir);
  TrainResult result;
  result.best_path = (std::filesystem::path(o.out_dir) / "best.safetensors").string();
  result.last_path = (std::filesystem::path(o.out_dir) / "last.safetensors").string();
  result.metrics_path = (std::filesystem::path(o.out_dir) / "metrics.csv").string();

  // Model and optimizer; on resume both come from last.safetensors.
  model::UNetConfig config = o.config;
  CheckpointContents resume_ckpt;
  if (!o.resume.empty()) {
    resume_ckpt = read_checkpoint(o.resume);
    config = resume_ckpt.config;
  }
  model::UNet net(config, o.seed);
  if (!o.resume.empty()) net = load_model(resume_ckpt);
  net.to(o.device);
  Adam adam(net.parameters(), AdamOptions{o.lr});

  io::LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.shuffle = true;
  lo.drop_last = false;
  lo.seed = o.seed;
  lo.augment.enabled = o.augment;
  if (o.device.is_cuda()) {
    lo.alloc = [](size_t bytes) { return cuda_backend::host_alloc_pinned(bytes); };
    lo.free = [](void* p) { cuda_backend::host_free_pinned(p); };
  }
  io::DataLoader loader(cache, split.train, lo);
  int64_t steps_per_epoch = loader.batches_per_epoch();
  if (o.max_steps_per_epoch > 0) steps_per_epoch = std::min(steps_per_epoch, o.max_steps_per_epoch);

  int first_epoch = 1;
  int64_t global_step = 0;
  result.best_val_loss = INFINITY;
  if (!o.resume.empty()) {
    load_optimizer_state(resume_ckpt, net, adam);
    const TrainState state =
        train_state_from_json(resume_ckpt.metadata.at("train_state"), o.resume);
    first_epoch = state.epoch + 1;
    global_step = state.global_step;
    result.best_val_loss = state.best_val_loss;
    result.best_epoch = state.best_epoch;
    result.history = state.history;
    loader.set_state({o.seed, state.epoch, 0});
    log << "resuming from " << o.resume << " after epoch " << state.epoch << "\n";
  }

  Preprocess pre{cache.manifest.options, cache.manifest.norm};
  log << "training U-Net (" << config.describe() << ", " << net.parameter_count()
      << " parameters) on " << o.device.str() << " ("
      << (o.device.is_cuda() ? cuda_device_description() : "CPU") << ", "
      << math_mode_name(o.precision) << "); recipe " << o.recipe << ", loss " << loss_name(o.loss)
      << ", batch " << o.batch << ", lr " << o.lr << " " << schedule_name(o.schedule) << "; "
      << split.train.size() << " training / " << split.val.size() << " validation slices of " << h
      << "x" << w << "\n";

  const int progress_every =
      o.progress_every > 0 ? o.progress_every : std::max<int64_t>(1, steps_per_epoch / 10);
  CollapseDetector collapse(o.collapse_steps);
  const auto run_start = std::chrono::steady_clock::now();
  int64_t steps_done_this_run = 0;
  const int64_t steps_total_this_run = steps_per_epoch * (o.epochs - first_epoch + 1);
  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    net.set_training(true);
    DiceCounts counts;
    double loss_sum = 0;
    int64_t step_in_epoch = 0;
    io::Batch batch;
    double lr = o.lr;
    while (step_in_epoch < steps_per_epoch && loader.next(&batch)) {
      lr = learning_rate(o, global_step, steps_per_epoch);
      adam.set_lr(static_cast<float>(lr));
      Tensor x = Tensor::from_data(batch.images, {batch.n, h, w, 1}, o.device);
      Tensor t = Tensor::from_data(batch.masks, {batch.n, h, w, 1}, o.device);
      adam.zero_grad();
      Tensor logits = net.forward(x);
      Tensor loss = compute_loss(o.loss, logits, t);
      const float loss_value = loss.item();
      if (!std::isfinite(loss_value)) {
        throw std::runtime_error(
            "non-finite loss (" + std::to_string(loss_value) + ") at epoch " +
            std::to_string(epoch) + ", step " + std::to_string(step_in_epoch + 1) + "; " +
            (epoch > 1 ? result.last_path + " holds the last good epoch" : "no epoch finished") +
            "; lower --lr or use --recipe default (batch norm)");
      }
      loss.backward();
      adam.step();
      const std::vector<float> lv = logits.to_vector();
      counts.add(lv, batch.masks);
      if (collapse.update(lv.data(), batch.masks, lv.size())) {
        result.collapse_warned = true;
        log << "\nwarning: the prediction has been empty for " << o.collapse_steps
            << " steps while the targets contain liver: training has probably collapsed to "
               "all-background; "
               "try --recipe default (batch norm, Dice+BCE) or a lower --lr\n";
      }
      loss_sum += loss_value;
      ++step_in_epoch;
      ++global_step;
      ++steps_done_this_run;
      if (step_in_epoch % progress_every == 0 || step_in_epoch == steps_per_epoch) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
        const double eta =
            elapsed / steps_done_this_run * (steps_total_this_run - steps_done_this_run);
        log << "epoch " << epoch << "/" << o.epochs << " step " << step_in_epoch << "/"
            << steps_per_epoch << " loss " << std::fixed << std::setprecision(4)
            << loss_sum / step_in_epoch << " dice " << counts.dice() << std::defaultfloat << " lr "
            << lr << " ETA " << fmt_duration(eta) << "\n"
            << std::flush;
      }
    }
    // Finish the epoch in the loader so the next starts a new shuffle, even with
    // max_steps_per_epoch.
    if (step_in_epoch == steps_per_epoch && loader.get_state().position != 0) {
      loader.set_state({o.seed, epoch, 0});
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.train_loss = loss_sum / std::max<int64_t>(1, step_in_epoch);
    m.train_dice = counts.dice();
    const Evaluation val = evaluate(net, cache, split.val, o);
    m.val_loss = split.val.empty() ? m.train_loss : val.loss;
    m.val_dice = split.val.empty() ? m.train_dice : val.dice;
    m.lr = lr;
    m.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    result.history.push_back(m);

    std::map<std::string, std::string> meta{
        {"preprocess", preprocess_to_json(pre)}, {"recipe", o.recipe}, {"loss", loss_name(o.loss)}};
    if (m.val_loss < result.best_val_loss) {
      result.best_val_loss = m.val_loss;
      result.best_epoch = epoch;
      save_checkpoint(result.best_path, net, nullptr, meta);
    }
    TrainState state{epoch, global_step, result.best_val_loss, result.best_epoch, result.history};
    meta["train_state"] = train_state_to_json(state);
    save_checkpoint(result.last_path, net, &adam, meta);
    write_metrics_csv(result.metrics_path, result.history);
    result.plot_path = write_dice_plot(o.out_dir, result.history);
    log << "epoch " << epoch << "/" << o.epochs << ": train loss " << std::fixed
        << std::setprecision(4) << m.train_loss << " dice " << m.train_dice << " | val loss "
        << m.val_loss << " dice " << m.val_dice << std::defaultfloat << " | "
        << fmt_duration(m.seconds) << (result.best_epoch == epoch ? " (best)" : "") << "\n"
        << std::flush;
    if (o.stop_after_epoch > 0 && epoch >= o.stop_after_epoch && epoch < o.epochs) {
      log << "stopping after epoch " << epoch << " as asked; continue with --resume "
          << result.last_path << "\n";
      return result;
    }
  }

  // Test-set Dice of the best model, when unet_prepare made a test cache.
  const std::filesystem::path test_dir = std::filesystem::path(o.cache_dir) / "test";
  if (std::filesystem::exists(test_dir / "manifest.json")) {
    io::SliceCache test = io::read_slice_cache(test_dir.string());
    model::UNet best = load_model(read_checkpoint(result.best_path));
    best.to(o.device);
    std::vector<int64_t> all(test.num_slices());
    for (int64_t i = 0; i < test.num_slices(); ++i) all[i] = i;
    result.test_dice = evaluate(best, test, all, o).dice;
    log << "test Dice (all " << test.num_slices() << " test slices, best epoch "
        << result.best_epoch << "): " << std::fixed << std::setprecision(4) << result.test_dice
        << std::defaultfloat << "\n";
  }
  return result;
}

}  // namespace unet::apps
