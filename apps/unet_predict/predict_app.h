// unet_predict's pieces: the parsed options, the two modes (slice cache, NIfTI volume) and the
// output writers they share (masks, metrics table/CSV/JSON; overlays are io::write_overlay_png).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "io/metrics3d.h"
#include "io/nifti.h"
#include "io/slice_cache.h"
#include "model/unet.h"
#include "workflow/checkpoint.h"
#include "workflow/predictor.h"

namespace unet::apps::predict {

enum class PngMode { kAll, kLiver, kNone };
PngMode parse_png_mode(const std::string& text);  // "all" | "liver" | "none"

struct Args {
  std::string checkpoint, cache, volume, reference, out, device = "auto", png;
  int batch = 8;
  float threshold = 0.5f;
  bool largest_component = false;
  bool save_probabilities = false;
  int max_png = 0;  // 0: no limit
};

// Checks everything that needs no file: required options, mode exclusivity, ranges.
void validate_args(const Args& args);

// What one run wrote, for the closing summary.
struct Written {
  std::string preds_dir, masks_dir, metrics_csv, metrics_json;
  int64_t overlays = 0, masks = 0, probabilities = 0;
};

Written run_cache_mode(const Args& args, model::UNet& net, const workflow::Preprocess& preprocess,
                       std::ostream& log);
Written run_volume_mode(const Args& args, model::UNet& net, const workflow::Preprocess& preprocess,
                        std::ostream& log);

// ---- shared output helpers (outputs.cpp) ----

// One row of the metrics table: io::volume_metrics of a case (see docs/PREDICT.md) and its voxel
// volume in mL, which turns the voxel counts into pred_ml and ref_ml.
struct CaseMetrics {
  std::string name;
  io::VolumeMetrics volume;
  double voxel_ml = 0;
};
// 3-D metrics of a predicted against a reference 0/1 volume [nz][ny][nx] with spacing in mm.
CaseMetrics compute_metrics(const std::string& name, const std::vector<uint8_t>& pred,
                            const std::vector<uint8_t>& ref, int64_t nx, int64_t ny, int64_t nz,
                            const double spacing_mm[3]);
// Prints the table and writes <out>/metrics.csv and <out>/metrics.json (with the mean), atomically.
void write_metrics(const std::string& out_dir, const std::vector<CaseMetrics>& rows,
                   std::ostream& log, Written& written);

// A NIfTI geometry for a cache volume's original grid from the manifest (sform = the manifest's
// voxel_to_world; qform derived from it when it is a rotation times the spacing).
io::NiftiGeometry geometry_from_manifest(const io::CacheVolume& v);

// "case01" from ".../case01.nii.gz" (strips .nii.gz / .nii).
std::string case_name(const std::string& path);

// Overlay file name "<case>_z027.png": the case and the canonical axial slice index, zero-padded to
// three digits so a folder listing sorts by slice.
std::string overlay_name(const std::string& case_name, int64_t k);

// Creates dir (and parents) or throws naming it.
void make_dir(const std::string& dir);

}  // namespace unet::apps::predict
