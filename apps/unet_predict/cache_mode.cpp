// Cache mode (the seed notebook's flow): every slice of a unet_prepare cache is predicted; overlays
// preds/<k>_pred.png (k = slice index in the cache); per volume the 3-D metrics at the network's
// resolution (the manifest's spacing scaled by the in-plane resampling factor) and a NIfTI mask on
// the original grid (masks/<case>_pred.nii.gz) with the manifest's geometry.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "apps/unet_predict/predict_app.h"
#include "io/metrics3d.h"
#include "io/png.h"

namespace unet::apps::predict {
namespace {

constexpr int kUint8 = 2, kFloat32 = 16;  // NIFTI_TYPE_UINT8, NIFTI_TYPE_FLOAT32

std::string describe(const io::SliceOptions& o) {
  std::string s = std::to_string(o.height) + "x" + std::to_string(o.width) + " " +
                  io::resample_name(o.resample) + ", ";
  if (!o.window.enabled) return s + "no window";
  char buf[64];
  std::snprintf(buf, sizeof buf, "window [%g, %g]", o.window.lo, o.window.hi);
  return s + buf;
}

bool same_options(const io::SliceOptions& a, const io::SliceOptions& b) {
  if (a.height != b.height || a.width != b.width || a.resample != b.resample) return false;
  if (a.window.enabled != b.window.enabled) return false;
  return !a.window.enabled || (a.window.lo == b.window.lo && a.window.hi == b.window.hi);
}

bool close(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(b)); }

}  // namespace

Written run_cache_mode(const Args& args, model::UNet& net, const workflow::Preprocess& preprocess,
                       std::ostream& log) {
  io::SliceCache cache = io::read_slice_cache(args.cache);
  const io::SliceCacheManifest& man = cache.manifest;
  if (!same_options(man.options, preprocess.slice)) {
    throw std::runtime_error(args.cache + ": slices were prepared as " + describe(man.options) +
                             " but " + args.checkpoint + " was trained on " +
                             describe(preprocess.slice) +
                             "; rerun unet_prepare with the checkpoint's options");
  }
  const int h = cache.height(), w = cache.width();
  const int64_t px = int64_t{h} * w;
  for (const io::CacheVolume& v : man.volumes)
    workflow::check_mappable(preprocess, v.nx, v.ny, args.cache);

  // The cache is normalised with its manifest's stats; the model wants the checkpoint's. Undo and
  // redo (exact up to rounding) rather than refuse: the same windowed pixels either way.
  if (!close(man.norm.mean, preprocess.norm.mean) || !close(man.norm.std, preprocess.norm.std)) {
    log << "note: cache normalised with mean " << man.norm.mean << ", std " << man.norm.std
        << "; renormalising to the checkpoint's mean " << preprocess.norm.mean << ", std "
        << preprocess.norm.std << "\n";
    const double cs = man.norm.std < 1e-12 ? 1.0 : man.norm.std;
    for (float& x : cache.images) x = static_cast<float>(x * cs + man.norm.mean);
    io::normalize(cache.images.data(), cache.images.size(), preprocess.norm);
  }
  const std::vector<float> prob = workflow::predict_probabilities(
      net, cache.images.data(), cache.num_slices(), h, w, args.batch);

  // Display images: the windowed slice before normalisation (x * std + mean), in [0, 1].
  const double ds = preprocess.norm.std < 1e-12 ? 1.0 : preprocess.norm.std;
  const io::HuWindow shown = workflow::display_window(preprocess);

  Written wr;
  make_dir(args.out);
  wr.masks_dir = args.out + "/masks";
  make_dir(wr.masks_dir);
  const PngMode mode = args.png.empty() ? PngMode::kAll : parse_png_mode(args.png);
  wr.preds_dir = args.out + "/preds";
  if (mode != PngMode::kNone) make_dir(wr.preds_dir);

  std::vector<CaseMetrics> rows;
  std::vector<float> gray(static_cast<size_t>(px));
  for (const io::CacheVolume& v : man.volumes) {
    const int64_t n = static_cast<int64_t>(v.slices.size());
    if (n < v.nz) {
      log << "note: " << v.name << ": the cache holds " << n << " of " << v.nz
          << " slices; the others count as background in its mask and metrics\n";
    }
    // Network-resolution volumes [nz][h][w]: predicted and reference.
    std::vector<float> net_prob(static_cast<size_t>(v.nz * px), 0.0f);
    std::vector<uint8_t> net_ref(static_cast<size_t>(v.nz * px), 0);
    for (int64_t s = 0; s < n; ++s) {
      const int64_t src = (v.first + s) * px, dst = v.slices[s] * px;
      std::copy(prob.begin() + src, prob.begin() + src + px, net_prob.begin() + dst);
      std::copy(cache.masks.begin() + src, cache.masks.begin() + src + px, net_ref.begin() + dst);
    }
    std::vector<uint8_t> net_pred = workflow::threshold_mask(net_prob, args.threshold);
    if (args.largest_component) io::keep_largest_component(net_pred.data(), w, h, v.nz);

    // Metrics on the network grid: in-plane spacing grows by the resampling factor.
    const double spacing[3] = {v.spacing[0] * static_cast<double>(v.nx) / w,
                               v.spacing[1] * static_cast<double>(v.ny) / h, v.spacing[2]};
    rows.push_back(compute_metrics(v.name, net_pred, net_ref, w, h, v.nz, spacing));

    // The mask on the original grid: probabilities mapped back slice by slice, then thresholded
    // (and the largest component taken) there.
    const int64_t opx = v.nx * v.ny;
    std::vector<float> orig_prob(static_cast<size_t>(v.nz * opx), 0.0f);
    for (int64_t k : v.slices) {
      workflow::map_to_original(net_prob.data() + k * px, h, w, orig_prob.data() + k * opx, v.ny,
                                v.nx, preprocess.slice.resample);
    }
    std::vector<uint8_t> orig_mask = workflow::threshold_mask(orig_prob, args.threshold);
    if (args.largest_component) io::keep_largest_component(orig_mask.data(), v.nx, v.ny, v.nz);
    const io::NiftiGeometry g = geometry_from_manifest(v);
    io::write_nifti(wr.masks_dir + "/" + v.name + "_pred.nii.gz", g,
                    std::vector<float>(orig_mask.begin(), orig_mask.end()), kUint8);
    ++wr.masks;
    if (args.save_probabilities) {
      io::write_nifti(wr.masks_dir + "/" + v.name + "_prob.nii.gz", g, orig_prob, kFloat32);
      ++wr.probabilities;
    }

    for (int64_t s = 0; s < n && mode != PngMode::kNone; ++s) {
      if (args.max_png > 0 && wr.overlays >= args.max_png) break;
      const uint8_t* p = net_pred.data() + v.slices[s] * px;
      const uint8_t* r = net_ref.data() + v.slices[s] * px;
      const bool liver = std::any_of(p, p + px, [](uint8_t x) { return x != 0; }) ||
                         std::any_of(r, r + px, [](uint8_t x) { return x != 0; });
      if (mode == PngMode::kLiver && !liver) continue;
      const float* img = cache.images.data() + (v.first + s) * px;
      for (int64_t i = 0; i < px; ++i) {
        gray[i] = static_cast<float>(img[i] * ds + preprocess.norm.mean);
      }
      // Without a training window the cache holds HU: window it for display only.
      if (!preprocess.slice.window.enabled) io::apply_window(gray.data(), gray.size(), shown);
      for (float& x : gray) x = std::min(1.0f, std::max(0.0f, x));
      io::write_overlay_png(wr.preds_dir + "/" + std::to_string(v.first + s) + "_pred.png",
                            gray.data(), h, w, 0.0f, 1.0f, p, r);
      ++wr.overlays;
    }
  }
  write_metrics(args.out, rows, log, wr);
  return wr;
}

}  // namespace unet::apps::predict
