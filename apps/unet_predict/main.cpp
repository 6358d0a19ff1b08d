// unet_predict: segment the liver with a trained checkpoint.
//   unet_predict --checkpoint FILE (--cache DIR | --volume CT.nii[.gz] [--reference MASK.nii[.gz]])
//                --out DIR [--device auto|cpu|cuda] [--batch 8] [--threshold 0.5]
//                [--largest-component] [--save-probabilities] [--png all|liver|none] [--max-png N]
// Cache mode (a test cache from unet_prepare): overlays preds/<case>_z<k>.png at the CT's
// resolution, masks/<case>_pred.nii.gz on each original grid and voxel order, per-volume 3-D
// metrics (metrics.csv, metrics.json). Volume mode: one <name>_mask.nii.gz with the input's
// geometry and voxel order, optional <name>_prob.nii.gz, overlays of liver slices, metrics against
// --reference. Volumes are segmented in the canonical LPS order (io/orientation.h). docs/PREDICT.md
// describes the outputs and the metrics.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "apps/common/app_main.h"
#include "apps/unet_predict/predict_app.h"
#include "engine/device.h"
#include "engine/profiler.h"
#include "workflow/checkpoint.h"

namespace predict = unet::apps::predict;

int main(int argc, char** argv) {
  CLI::App app{"Segment the liver in a slice cache or a NIfTI CT volume with a trained U-Net"};
  predict::Args a;
  app.add_option("--checkpoint", a.checkpoint, "checkpoint written by unet_train (.safetensors)");
  app.add_option("--cache", a.cache, "slice cache folder from unet_prepare (e.g. cache/test)");
  app.add_option("--volume", a.volume, "CT volume (.nii or .nii.gz) to segment");
  app.add_option("--reference", a.reference, "liver mask of --volume, for metrics");
  app.add_option("--out", a.out, "output folder (created if missing)");
  app.add_option("--device", a.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--batch", a.batch, "slices per forward pass")->capture_default_str();
  app.add_option("--threshold", a.threshold, "liver where probability > threshold")
      ->capture_default_str();
  app.add_flag("--largest-component", a.largest_component,
               "keep only the largest 3-D connected component of each mask");
  app.add_flag("--save-probabilities", a.save_probabilities,
               "also write float32 probability volumes");
  app.add_option("--png", a.png,
                 "overlays: all, liver (slices with predicted or reference liver) or none "
                 "[default: all for --cache, liver for --volume]");
  app.add_option("--max-png", a.max_png, "at most N overlays (0: no limit)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return unet::apps::run_app("unet_predict", [&]() {
    predict::validate_args(a);
    const unet::Device device = unet::parse_device(a.device);
    if (device.is_cuda()) unet::use_cuda_device(device, "unet_predict --device " + a.device);
    const unet::workflow::CheckpointContents ckpt = unet::workflow::read_checkpoint(a.checkpoint);
    const unet::workflow::Preprocess preprocess = ckpt.preprocess();
    unet::model::UNet net = unet::workflow::load_inference_model(ckpt, device);
    std::cout << "unet_predict: " << a.checkpoint << " (" << ckpt.config.describe() << ", "
              << preprocess.slice.height << "x" << preprocess.slice.width << " "
              << unet::io::resample_name(preprocess.slice.resample) << ") on " << device.str()
              << "\n";
    const predict::Written w = a.cache.empty()
                                   ? predict::run_volume_mode(a, net, preprocess, std::cout)
                                   : predict::run_cache_mode(a, net, preprocess, std::cout);
    if (w.overlays > 0) {
      std::cout << "overlays: " << w.overlays << " PNG file(s) in " << w.preds_dir << "\n";
    } else {
      std::cout << "overlays: none written\n";
    }
    if (w.masks > 0)
      std::cout << "masks: " << w.masks << " NIfTI file(s) in " << w.masks_dir << "\n";
    if (w.probabilities > 0) {
      std::cout << "probabilities: " << w.probabilities << " NIfTI file(s) in " << w.masks_dir
                << "\n";
    }
    if (!w.metrics_csv.empty()) {
      std::cout << "metrics: " << w.metrics_csv << ", " << w.metrics_json << "\n";
    }
    if (unet::profiling_enabled()) {
      std::cout << "per-op time (UNET_PROFILE=1; CUDA ops timed with events):\n"
                << unet::op_profile_table();
    }
    return 0;
  });
}
