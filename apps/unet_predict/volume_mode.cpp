// Volume mode: one NIfTI CT volume in, its liver mask out on exactly the input's grid and voxel
// order (the header's qform and sform are copied, so the mask overlays the CT in any viewer), plus
// overlays of the canonical axial slices (<case>_z<k>.png, io/orientation.h) and, with a reference
// mask, the 3-D metrics. Every input is read and checked before anything is written.
#include <algorithm>
#include <stdexcept>

#include "apps/unet_predict/predict_app.h"
#include "io/orientation.h"
#include "io/png.h"

namespace unet::apps::predict {
namespace {
constexpr int kUint8 = 2, kFloat32 = 16;  // NIFTI_TYPE_UINT8, NIFTI_TYPE_FLOAT32
}  // namespace

Written run_volume_mode(const Args& args, model::UNet& net, const workflow::Preprocess& preprocess,
                        std::ostream& log) {
  const io::NiftiVolume volume = io::read_nifti(args.volume);
  if (!volume.warning.empty()) log << "warning: " << volume.warning << "\n";
  const io::NiftiGeometry& g = volume.geometry;
  io::NiftiVolume reference;
  std::vector<uint8_t> ref_mask;
  if (!args.reference.empty()) {
    reference = io::read_nifti(args.reference);
    std::string why;
    if (!io::same_grid(g, reference.geometry, &why)) {
      throw std::runtime_error(args.reference + ": reference mask is not on the grid of " +
                               args.volume + " (" + why +
                               "); pass the liver mask that belongs to this volume");
    }
    ref_mask.resize(reference.voxels.size());
    // Binarised like the cache's masks (> 0.5), so 0/1 and 0/255 files agree.
    for (size_t i = 0; i < ref_mask.size(); ++i) ref_mask[i] = reference.voxels[i] > 0.5f ? 1 : 0;
  }

  workflow::PredictOptions po;
  po.threshold = args.threshold;
  po.largest_component = args.largest_component;
  po.batch = args.batch;
  po.display = workflow::DisplayImages::kOriginal;  // canonical slices, windowed, for the overlays
  const workflow::VolumePrediction pred = workflow::predict_volume(net, preprocess, volume, po);
  if (!pred.to_canonical.identity()) {
    log << "note: " << args.volume << " is stored " << pred.stored_axes << "; segmented in "
        << io::kCanonicalAxes << " order, mask written back in the stored order\n";
  }
  if (pred.resample != preprocess.slice.resample) {
    log << "note: slices of " << pred.canonical_ny << "x" << pred.canonical_nx
        << " are not an integer multiple of the checkpoint's " << preprocess.slice.height << "x"
        << preprocess.slice.width << ": resampled bilinearly to it and back\n";
  }

  Written w;
  const std::string name = case_name(args.volume);
  make_dir(args.out);
  w.masks_dir = args.out;
  io::write_nifti(args.out + "/" + name + "_mask.nii.gz", g,
                  std::vector<float>(pred.mask.begin(), pred.mask.end()), kUint8);
  ++w.masks;
  if (args.save_probabilities) {
    io::write_nifti(args.out + "/" + name + "_prob.nii.gz", g, pred.probabilities, kFloat32);
    ++w.probabilities;
  }
  log << name << ": " << g.nx << "x" << g.ny << "x" << g.nz << ", liver " << pred.liver_voxels
      << " voxels = " << pred.liver_volume_ml << " mL\n";

  // Overlays at the original resolution of the canonical axial slices (row = j, col = i).
  const PngMode mode = args.png.empty() ? PngMode::kLiver : parse_png_mode(args.png);
  w.preds_dir = args.out + "/preds";
  if (mode != PngMode::kNone) make_dir(w.preds_dir);
  const int64_t px = pred.canonical_nx * pred.canonical_ny;
  const std::vector<uint8_t> canonical_ref =
      ref_mask.empty() ? std::vector<uint8_t>()
                       : io::remap_voxels(ref_mask, g.nx, g.ny, g.nz, pred.to_canonical);
  for (int64_t k = 0; k < pred.canonical_nz && mode != PngMode::kNone; ++k) {
    if (args.max_png > 0 && w.overlays >= args.max_png) break;
    const uint8_t* p = pred.canonical_mask.data() + k * px;
    const uint8_t* r = canonical_ref.empty() ? nullptr : canonical_ref.data() + k * px;
    const bool liver = std::any_of(p, p + px, [](uint8_t v) { return v != 0; }) ||
                       (r && std::any_of(r, r + px, [](uint8_t v) { return v != 0; }));
    if (mode == PngMode::kLiver && !liver) continue;
    // pred.display is windowed for display, in [0, 1].
    io::write_overlay_png(w.preds_dir + "/" + overlay_name(name, k), pred.display.data() + k * px,
                          static_cast<int>(pred.canonical_ny), static_cast<int>(pred.canonical_nx),
                          0.0f, 1.0f, p, r);
    ++w.overlays;
  }

  if (!ref_mask.empty()) {
    double spacing[3];
    workflow::spacing_mm(g, spacing);
    const CaseMetrics m = compute_metrics(name, pred.mask, ref_mask, g.nx, g.ny, g.nz, spacing);
    write_metrics(args.out, {m}, log, w);
  }
  return w;
}

}  // namespace unet::apps::predict
