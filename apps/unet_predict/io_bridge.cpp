// Metrics and overlays: thin wrappers over io/metrics3d.h and io/png.h, which define the metrics
// (and their empty-mask conventions) and draw the boundaries.
#include "apps/unet_predict/predict_app.h"
#include "io/metrics3d.h"
#include "io/png.h"

namespace unet::apps::predict {

CaseMetrics compute_metrics(const std::string& name, const std::vector<uint8_t>& pred,
                            const std::vector<uint8_t>& ref, int64_t nx, int64_t ny, int64_t nz,
                            const double spacing_mm[3]) {
  const io::VolumeMetrics v = io::volume_metrics(pred.data(), ref.data(), nx, ny, nz, spacing_mm);
  CaseMetrics m;
  m.name = name;
  m.dice = v.dice;
  m.voe = v.voe;
  m.rvd = v.rvd;
  m.asd_mm = v.asd;
  m.msd_mm = v.msd;
  const double voxel_ml = spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0;
  m.pred_ml = static_cast<double>(v.pred_voxels) * voxel_ml;
  m.ref_ml = static_cast<double>(v.truth_voxels) * voxel_ml;
  return m;
}

void write_overlay(const std::string& path, const float* gray, int64_t h, int64_t w,
                   const uint8_t* pred, const uint8_t* ref) {
  // gray is already in [0, 1] (windowed for display).
  io::write_overlay_png(path, gray, static_cast<int>(h), static_cast<int>(w), 0.0f, 1.0f, pred,
                        ref);
}

}  // namespace unet::apps::predict
