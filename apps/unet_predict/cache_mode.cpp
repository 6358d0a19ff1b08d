// Cache mode (the seed notebook's flow): every slice of a unet_prepare cache is predicted; per volume
// the 3-D metrics at the network's resolution (the manifest's spacing scaled by the in-plane
// resampling factor), a NIfTI mask on the original grid in the source file's own voxel order and
// geometry (masks/<case>_pred.nii.gz), and overlays preds/<case>_z<k>.png at the CT's own in-plane
// resolution (the source volume is read again for them; at the cache's resolution, with a note,
// when it cannot be).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "apps/unet_predict/predict_app.h"
#include "io/metrics3d.h"
#include "io/orientation.h"
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

// The source CT and reference mask of a cache volume in canonical order, windowed for display and
// binarised; empty (with *why set) when they cannot be read or no longer match the manifest.
struct SourceSlices {
  std::vector<float> gray;  // nz * ny * nx, in [0, 1]
  std::vector<uint8_t> reference;
};
SourceSlices read_source(const io::CacheVolume& v, const io::HuWindow& shown, std::string* why) {
  SourceSlices src;
  try {
    io::CanonicalVolume image = io::to_canonical(io::read_nifti(v.image_path));
    io::CanonicalVolume mask = io::to_canonical(io::read_nifti(v.mask_path));
    const io::NiftiGeometry& g = image.volume.geometry;
    if (g.nx != v.nx || g.ny != v.ny || g.nz != v.nz || image.stored_axes != v.stored_axes ||
        mask.volume.voxels.size() != image.volume.voxels.size()) {
      *why = v.image_path + " no longer matches the cache's grid";
      return {};
    }
    src.gray = std::move(image.volume.voxels);
    io::apply_window(src.gray.data(), src.gray.size(), shown);
    src.reference.resize(mask.volume.voxels.size());
    for (size_t i = 0; i < src.reference.size(); ++i) {
      src.reference[i] = mask.volume.voxels[i] > 0.5f ? 1 : 0;
    }
  } catch (const std::exception& e) {
    *why = e.what();
    return {};
  }
  return src;
}

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
    // Written in the source file's own voxel order and geometry, so the mask overlays the CT as
    // stored whatever orientation it came in.
    const io::AxisMap back = io::map_to_canonical(v.stored_axes).inverse();
    const io::NiftiGeometry g = io::remap_geometry(geometry_from_manifest(v), back);
    io::write_nifti(wr.masks_dir + "/" + v.name + "_pred.nii.gz", g,
                    io::remap_voxels(std::vector<float>(orig_mask.begin(), orig_mask.end()), v.nx,
                                     v.ny, v.nz, back),
                    kUint8);
    ++wr.masks;
    if (args.save_probabilities) {
      io::write_nifti(wr.masks_dir + "/" + v.name + "_prob.nii.gz", g,
                      io::remap_voxels(orig_prob, v.nx, v.ny, v.nz, back), kFloat32);
      ++wr.probabilities;
    }
    if (mode == PngMode::kNone) continue;

    // Overlays at the CT's resolution: the source slice, the reference and the mask on that grid.
    std::string why;
    const SourceSlices src = read_source(v, shown, &why);
    if (src.gray.empty()) {
      log << "note: " << v.name << ": overlays at the cache's " << h << "x" << w << " resolution ("
          << why << ")\n";
    }
    for (int64_t s = 0; s < n; ++s) {
      if (args.max_png > 0 && wr.overlays >= args.max_png) break;
      const int64_t k = v.slices[s];
      const uint8_t* p = net_pred.data() + k * px;
      const uint8_t* r = net_ref.data() + k * px;
      const bool liver = std::any_of(p, p + px, [](uint8_t x) { return x != 0; }) ||
                         std::any_of(r, r + px, [](uint8_t x) { return x != 0; });
      if (mode == PngMode::kLiver && !liver) continue;
      const std::string path = wr.preds_dir + "/" + overlay_name(v.name, k);
      if (!src.gray.empty()) {
        io::write_overlay_png(path, src.gray.data() + k * opx, static_cast<int>(v.ny),
                              static_cast<int>(v.nx), 0.0f, 1.0f, orig_mask.data() + k * opx,
                              src.reference.data() + k * opx);
        ++wr.overlays;
        continue;
      }
      const float* img = cache.images.data() + (v.first + s) * px;
      for (int64_t i = 0; i < px; ++i) {
        gray[i] = static_cast<float>(img[i] * ds + preprocess.norm.mean);
      }
      // Without a training window the cache holds HU: window it for display only.
      if (!preprocess.slice.window.enabled) io::apply_window(gray.data(), gray.size(), shown);
      for (float& x : gray) x = std::min(1.0f, std::max(0.0f, x));
      io::write_overlay_png(path, gray.data(), h, w, 0.0f, 1.0f, p, r);
      ++wr.overlays;
    }
  }
  write_metrics(args.out, rows, log, wr);
  return wr;
}

}  // namespace unet::apps::predict
