// unet_train: trains the U-Net on a slice cache made by unet_prepare.
//   unet_train --cache DIR/cache --out DIR/run [--recipe default|seed] [--device auto|cpu|cuda] ...
// A recipe sets every training choice; any option given explicitly overrides the recipe.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/common/app_main.h"
#include "engine/build_info.h"
#include "engine/profiler.h"
#include "workflow/trainer.h"

int main(int argc, char** argv) {
  using namespace unet;
  CLI::App app{"Train the liver-segmentation U-Net on a slice cache made by unet_prepare"};
  workflow::TrainOptions o;
  std::string recipe = "default", device = "auto", precision = "auto", norm, activation, init, loss,
              schedule;
  int depth = 0, base = 0, epochs = 0, batch = 0;
  float lr = 0;
  double warmup = -1, val_fraction = -1;
  app.add_option("--cache", o.cache_dir, "unet_prepare's output folder (holds train/ and test/)")
      ->required();
  app.add_option("--out", o.out_dir,
                 "output folder for checkpoints, metrics.csv and the Dice curve")
      ->required();
  app.add_option("--recipe", recipe,
                 "default (batch norm, He init, Dice+BCE, warm-up + cosine) or seed (the original "
                 "notebook)")
      ->check(CLI::IsMember(workflow::recipe_names()));
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N");
  app.add_option("--precision", precision, "auto (tf32 on a GPU), fp32 or tf32")
      ->check(CLI::IsMember({"auto", "fp32", "tf32"}));
  app.add_option("--depth", depth, "U-Net levels including the bottleneck (seed: 5)")
      ->check(CLI::Range(1, 8));
  app.add_option("--base", base, "filters of the first level (seed: 32)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--norm", norm, "none or batch")->check(CLI::IsMember({"none", "batch"}));
  app.add_option("--activation", activation, "relu or leaky_relu")
      ->check(CLI::IsMember({"relu", "leaky_relu"}));
  app.add_option("--init", init, "glorot or he")->check(CLI::IsMember({"glorot", "he"}));
  app.add_option("--loss", loss, "dice, bce or dice+bce")
      ->check(CLI::IsMember({"dice", "bce", "dice+bce"}));
  app.add_option("--epochs", epochs, "number of epochs")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--schedule", schedule, "constant or cosine (linear warm-up, then cosine decay)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--warmup-epochs", warmup, "warm-up length for the cosine schedule")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--val-fraction", val_fraction,
                 "fraction of training volumes held out for validation (0.2)")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--seed", o.seed, "seed for initialisation, shuffling, split and augmentation");
  app.add_flag("--augment", o.augment, "random rotations, scales and intensity jitter");
  app.add_option("--resume", o.resume, "continue from a last.safetensors")
      ->check(CLI::ExistingFile);
  app.add_option("--max-steps-per-epoch", o.max_steps_per_epoch, "cap steps per epoch (quick runs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option(
         "--stop-after-epoch", o.stop_after_epoch,
         "stop after this epoch (the schedule still spans --epochs; continue with --resume)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--progress-every", o.progress_every,
                 "a progress line every N steps (default: about ten per epoch)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--collapse-steps", o.collapse_steps,
                 "warn after this many steps of empty predictions")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  return apps::run_app("unet_train", [&] {
    workflow::apply_recipe(recipe, o);
    if (!norm.empty()) o.config.norm = model::parse_norm(norm);
    if (!activation.empty()) o.config.activation = model::parse_activation(activation);
    if (!init.empty()) o.config.init = model::parse_init(init);
    if (!loss.empty()) o.loss = workflow::parse_loss(loss);
    if (!schedule.empty()) o.schedule = workflow::parse_schedule(schedule);
    if (depth) o.config.depth = depth;
    if (base) o.config.base = base;
    if (epochs) o.epochs = epochs;
    if (batch) o.batch = batch;
    if (lr > 0) o.lr = lr;
    if (warmup >= 0) o.warmup_epochs = warmup;
    if (val_fraction >= 0) o.val_fraction = val_fraction;
    o.device = parse_device(device);
    o.precision = precision == "auto" ? (o.device.is_cuda() ? MathMode::kTf32 : MathMode::kFp32)
                                      : parse_math_mode(precision);
    std::cout << build_summary() << "\n";
    const workflow::TrainResult r = workflow::train(o, std::cout);
    std::cout << "best epoch " << r.best_epoch << " (val loss " << r.best_val_loss << ")\n"
              << "checkpoints: " << r.best_path << ", " << r.last_path << "\n"
              << "metrics: " << r.metrics_path << "\n"
              << "Dice curve: " << r.plot_path << "\n";
    if (profiling_enabled()) {
      std::cout << "per-op time over the whole run (UNET_PROFILE=1; CUDA ops timed with events):\n"
                << op_profile_table();
    }
    return 0;
  });
}
