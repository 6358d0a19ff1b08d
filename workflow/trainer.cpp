#include "workflow/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "engine/cuda_backend.h"
#include "io/atomic_file.h"
#include "io/loader.h"
#include "io/slice_cache.h"
#include "workflow/checkpoint.h"
#include "workflow/train_report.h"

namespace unet::workflow {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string fmt_duration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << (s / 60) % 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

// What one call of train() holds besides the TrainState. None of it is saved: a resumed run
// rebuilds it from the options.
struct Run {
  Run(const TrainOptions& options, std::ostream& out)
      : o(options), log(out), collapse(options.collapse_steps) {}
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run() {
    if (out_lock >= 0) ::close(out_lock);  // releases the folder lock
  }

  const TrainOptions& o;
  std::ostream& log;
  io::SliceCache cache;  // the training cache (the loader reads its arrays)
  io::SplitIndices split;
  std::unique_ptr<io::DataLoader> loader;
  int64_t steps_per_epoch = 0;
  int progress_every = 1;
  CollapseDetector collapse;
  Clock::time_point start;
  int64_t steps_done = 0, steps_total = 0;  // in this call, for the ETA
  TrainResult result;                       // paths and warnings; the rest comes from the state
  int out_lock = -1;                        // the output folder, open and flock'ed while we run
};

// Every file unet_train writes into the output folder (AtomicFile temp files are named after
// these), and the name of its write probe.
const char* const kWriteProbe = ".unet_train_write_probe";
const std::vector<std::string>& output_names() {
  static const std::vector<std::string> names{"best.safetensors", "last.safetensors", "metrics.csv",
                                              "dice_curve.png",   "dice_curve.svg",   kWriteProbe};
  return names;
}

void check_options(const TrainOptions& o) {
  if (o.out_dir.empty()) throw std::invalid_argument("unet_train: --out is required");
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0)) {
    throw std::invalid_argument("unet_train: epochs, batch and lr must be positive (epochs " +
                                std::to_string(o.epochs) + ", batch " + std::to_string(o.batch) +
                                ")");
  }
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) {
    throw std::invalid_argument("unet_train: --val-fraction must be in [0, 1)");
  }
  // Binds the process to the chosen GPU before anything creates a CUDA context.
  if (o.device.is_cuda()) use_cuda_device(o.device, "unet_train --device " + o.device.str());
}

// The training cache and its split by volume into training and validation slices.
void load_training_data(Run& run) {
  const TrainOptions& o = run.o;
  const std::string train_dir = (std::filesystem::path(o.cache_dir) / "train").string();
  run.cache = io::read_slice_cache(train_dir);
  if (run.cache.num_slices() == 0) {
    throw std::runtime_error(train_dir +
                             ": the training cache has no slices; check unet_prepare's output");
  }
  if (o.recipe == "seed" && run.cache.manifest.options.window.enabled) {
    run.log << "note: the seed recipe used mean/std normalisation without an HU window; this cache "
               "was prepared with a window (rerun unet_prepare --no-window to match the original "
               "exactly)\n";
  }
  run.split = io::split_by_volume(run.cache.manifest.volume_of_slice, o.val_fraction, o.seed);
  if (run.split.train.empty())
    throw std::runtime_error(train_dir + ": no training slices left after the validation split");
}

// The output folder, made ready before any training time is spent: created, locked for this run
// (a second unet_train writing the same folder would replace this run's checkpoints and, below,
// delete its temp files), proved writable, and cleared of the temp files a killed run left behind.
void prepare_output_folder(Run& run) {
  namespace fs = std::filesystem;
  const std::string& dir = run.o.out_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw std::runtime_error(dir + ": cannot create the output folder (" +
                             (ec ? ec.message() : std::string("a file has that name")) +
                             "); choose another --out");
  }
  run.out_lock = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (run.out_lock < 0) {
    throw std::runtime_error(dir + ": cannot open the output folder (" +
                             std::string(std::strerror(errno)) +
                             "); check its permissions or choose another --out");
  }
  // The lock goes with the process: a killed run never leaves the folder locked.
  if (::flock(run.out_lock, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw std::runtime_error(dir +
                               ": another unet_train is writing to this output folder; wait for "
                               "it to finish or choose another --out");
    }
    run.log << "note: cannot lock " << dir << " (" << std::strerror(errno)
            << "); make sure no other unet_train writes there\n";
  }
  {
    io::AtomicFile probe((fs::path(dir) / kWriteProbe).string());
    const int fd = ::open(probe.temp_path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      throw std::runtime_error(dir + ": the output folder is not writable (" +
                               std::string(std::strerror(errno)) +
                               "); make it writable or choose another --out");
    }
    ::close(fd);  // the probe's destructor removes the file
  }
  const std::vector<std::string> stale = io::remove_stale_temp_files(dir, output_names());
  if (!stale.empty()) {
    run.log << "removed " << stale.size() << " temp file(s) an interrupted run left in " << dir
            << "\n";
  }
}

// A fresh state from the options' config and seed, or the one saved in options.resume.
TrainState set_up_or_resume(const TrainOptions& o) {
  if (o.resume.empty()) return TrainState(model::UNet(o.config, o.seed), o.device, o.lr, o.seed);
  return restore_train_state(o.resume, o.device, o.lr, o.seed);
}

// The shuffling loader over the training split, positioned where the state continues.
void make_loader(Run& run, const TrainState& state) {
  const TrainOptions& o = run.o;
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
  run.loader = std::make_unique<io::DataLoader>(run.cache, run.split.train, lo);
  run.steps_per_epoch = run.loader->batches_per_epoch();
  if (o.max_steps_per_epoch > 0)
    run.steps_per_epoch = std::min(run.steps_per_epoch, o.max_steps_per_epoch);
  if (!o.resume.empty()) {
    run.loader->set_state(state.loader);
    run.log << "resuming from " << o.resume << " after epoch " << state.epoch << "\n";
  }
  run.progress_every =
      o.progress_every > 0 ? o.progress_every : std::max<int64_t>(1, run.steps_per_epoch / 10);
  run.steps_total = run.steps_per_epoch * (o.epochs - state.epoch);
}

void print_banner(Run& run, TrainState& state) {
  const TrainOptions& o = run.o;
  run.log << "training U-Net (" << state.net.config().describe() << ", "
          << state.net.parameter_count() << " parameters) on " << o.device.str() << " ("
          << (o.device.is_cuda() ? cuda_device_description() : "CPU") << ", "
          << math_mode_name(o.precision) << "); recipe " << o.recipe << ", loss "
          << loss_name(o.loss) << ", batch " << o.batch << ", lr " << o.lr << " "
          << schedule_name(o.schedule) << "; " << run.split.train.size() << " training / "
          << run.split.val.size() << " validation slices of " << run.cache.height() << "x"
          << run.cache.width() << "\n";
}

// One epoch of train_step over the loader's batches (at most steps_per_epoch), with progress
// lines and collapse warnings. Leaves the loader and state.loader at the start of the next epoch.
// Returns the epoch's training loss, Dice and last learning rate.
EpochMetrics run_epoch(Run& run, TrainState& state, int epoch) {
  const TrainOptions& o = run.o;
  const int h = run.cache.height(), w = run.cache.width();
  state.net.set_training(true);
  DiceCounts counts;
  double loss_sum = 0;
  int64_t step_in_epoch = 0;
  io::Batch batch;
  double lr = o.lr;
  while (step_in_epoch < run.steps_per_epoch && run.loader->next(&batch)) {
    lr = learning_rate(o, state.global_step, run.steps_per_epoch);
    state.adam.set_lr(static_cast<float>(lr));
    Tensor x = Tensor::from_data(batch.images, {batch.n, h, w, 1}, o.device);
    Tensor t = Tensor::from_data(batch.masks, {batch.n, h, w, 1}, o.device);
    const StepResult step = train_step(state.net, state.adam, x, t, o.loss);
    if (!step.updated) {
      throw std::runtime_error(
          "non-finite loss (" + std::to_string(step.loss) + ") at epoch " + std::to_string(epoch) +
          ", step " + std::to_string(step_in_epoch + 1) + "; " +
          (epoch > 1 ? run.result.last_path + " holds the last good epoch" : "no epoch finished") +
          "; lower --lr or use --recipe default (batch norm)");
    }
    const std::vector<float> lv = step.logits.to_vector();
    counts.add(lv, batch.masks);
    if (run.collapse.update(lv.data(), batch.masks, lv.size())) {
      run.result.collapse_warned = true;
      run.log << "\nwarning: the prediction has been empty for " << o.collapse_steps
              << " steps while the targets contain liver: training has probably collapsed to "
                 "all-background; "
                 "try --recipe default (batch norm, Dice+BCE) or a lower --lr\n";
    }
    loss_sum += step.loss;
    ++step_in_epoch;
    ++state.global_step;
    ++run.steps_done;
    if (step_in_epoch % run.progress_every == 0 || step_in_epoch == run.steps_per_epoch) {
      const double eta =
          seconds_since(run.start) / run.steps_done * (run.steps_total - run.steps_done);
      run.log << "epoch " << epoch << "/" << o.epochs << " step " << step_in_epoch << "/"
              << run.steps_per_epoch << " loss " << std::fixed << std::setprecision(4)
              << loss_sum / step_in_epoch << " dice " << counts.dice() << std::defaultfloat
              << " lr " << lr << " ETA " << fmt_duration(eta) << "\n"
              << std::flush;
    }
  }
  // Finish the epoch in the loader so the next starts a new shuffle, even with
  // max_steps_per_epoch.
  if (step_in_epoch == run.steps_per_epoch && run.loader->get_state().position != 0) {
    run.loader->set_state({o.seed, epoch, 0});
  }
  state.loader = run.loader->get_state();
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = loss_sum / std::max<int64_t>(1, step_in_epoch);
  m.train_dice = counts.dice();
  m.lr = lr;
  return m;
}

// Validation, the best checkpoint when the validation loss improved, the whole state into
// last.safetensors, metrics.csv, the Dice plot and the epoch's summary line.
void end_of_epoch(Run& run, TrainState& state, EpochMetrics m, Clock::time_point epoch_start) {
  const TrainOptions& o = run.o;
  const Evaluation val = evaluate(state.net, run.cache, run.split.val, o.loss, o.batch, o.device);
  m.val_loss = run.split.val.empty() ? m.train_loss : val.loss;
  m.val_dice = run.split.val.empty() ? m.train_dice : val.dice;
  m.seconds = seconds_since(epoch_start);
  state.history.push_back(m);
  state.epoch = m.epoch;

  const Preprocess pre{run.cache.manifest.options, run.cache.manifest.norm};
  const std::map<std::string, std::string> meta{
      {"preprocess", preprocess_to_json(pre)}, {"recipe", o.recipe}, {"loss", loss_name(o.loss)}};
  if (m.val_loss < state.best_val_loss) {
    state.best_val_loss = m.val_loss;
    state.best_epoch = m.epoch;
    save_checkpoint(run.result.best_path, state.net, nullptr, meta);
  }
  save_train_state(run.result.last_path, state, meta);
  write_metrics_csv(run.result.metrics_path, state.history);
  run.result.plot_path = write_dice_plot(o.out_dir, state.history);
  run.log << "epoch " << m.epoch << "/" << o.epochs << ": train loss " << std::fixed
          << std::setprecision(4) << m.train_loss << " dice " << m.train_dice << " | val loss "
          << m.val_loss << " dice " << m.val_dice << std::defaultfloat << " | "
          << fmt_duration(m.seconds) << (state.best_epoch == m.epoch ? " (best)" : "") << "\n"
          << std::flush;
}

// Test-set Dice of the best model, when unet_prepare made a test cache.
void final_test(Run& run, const TrainState& state) {
  const TrainOptions& o = run.o;
  const std::filesystem::path test_dir = std::filesystem::path(o.cache_dir) / "test";
  if (!std::filesystem::exists(test_dir / "manifest.json")) return;
  io::SliceCache test = io::read_slice_cache(test_dir.string());
  model::UNet best = load_model(read_checkpoint(run.result.best_path));
  best.to(o.device);
  std::vector<int64_t> all(test.num_slices());
  for (int64_t i = 0; i < test.num_slices(); ++i) all[i] = i;
  run.result.test_dice = evaluate(best, test, all, o.loss, o.batch, o.device).dice;
  run.log << "test Dice (all " << test.num_slices() << " test slices, best epoch "
          << state.best_epoch << "): " << std::fixed << std::setprecision(4) << run.result.test_dice
          << std::defaultfloat << "\n";
}

TrainResult finish(Run& run, const TrainState& state) {
  run.result.history = state.history;
  run.result.best_epoch = state.best_epoch;
  run.result.best_val_loss = state.best_val_loss;
  return run.result;
}

}  // namespace

TrainResult train(const TrainOptions& o, std::ostream& log) {
  check_options(o);
  kernel_config().math = o.precision;
  Run run(o, log);
  load_training_data(run);
  prepare_output_folder(run);
  const std::filesystem::path out(o.out_dir);
  run.result.best_path = (out / "best.safetensors").string();
  run.result.last_path = (out / "last.safetensors").string();
  run.result.metrics_path = (out / "metrics.csv").string();

  TrainState state = set_up_or_resume(o);
  if (!state.history.empty()) {
    // A run killed after last.safetensors was replaced but before the reports were may have
    // left metrics.csv and the plot an epoch behind; the state is the truth, so rewrite them.
    write_metrics_csv(run.result.metrics_path, state.history);
    run.result.plot_path = write_dice_plot(o.out_dir, state.history);
  }
  make_loader(run, state);
  print_banner(run, state);
  run.start = Clock::now();
  for (int epoch = state.epoch + 1; epoch <= o.epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    end_of_epoch(run, state, run_epoch(run, state, epoch), epoch_start);
    if (o.stop_after_epoch > 0 && epoch >= o.stop_after_epoch && epoch < o.epochs) {
      log << "stopping after epoch " << epoch << " as asked; continue with --resume "
          << run.result.last_path << "\n";
      return finish(run, state);
    }
  }
  final_test(run, state);
  return finish(run, state);
}

}  // namespace unet::workflow
