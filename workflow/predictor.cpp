#include "workflow/predictor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "io/metrics3d.h"

namespace unet::workflow {
namespace {

std::string size_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// Stride resampling works when one size is an integer multiple of the other (slicing.cpp).
bool stride_ok(int64_t a, int64_t b) { return (a >= b && a % b == 0) || (b > a && b % a == 0); }

// Puts the net in eval mode for a scope: predictions must use batch norm's running statistics
// even when the caller was in the middle of training.
class EvalScope {
 public:
  explicit EvalScope(model::UNet& net) : net_(net), was_training_(net.training()) {
    net_.set_training(false);
  }
  ~EvalScope() { net_.set_training(was_training_); }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  model::UNet& net_;
  bool was_training_;
};

void check_options(const PredictOptions& o, const std::string& where) {
  if (!(o.threshold > 0.0f && o.threshold < 1.0f)) {
    throw std::invalid_argument(where + ": threshold " + std::to_string(o.threshold) +
                                " is outside (0, 1); pass e.g. --threshold 0.5");
  }
  if (o.batch < 1) {
    throw std::invalid_argument(where + ": batch " + std::to_string(o.batch) +
                                " must be at least 1; pass e.g. --batch 8");
  }
}

}  // namespace

std::vector<float> predict_probabilities(model::UNet& net, const float* slices, int64_t n,
                                         int height, int width, int batch) {
  if (batch < 1 || n < 0 || height <= 0 || width <= 0) {
    throw std::invalid_argument(
        "predict_probabilities: need batch >= 1, n >= 0 and positive "
        "sizes (got batch " +
        std::to_string(batch) + ", n " + std::to_string(n) + ", " + size_str(height, width) + ")");
  }
  const int m = net.config().size_multiple();
  if (height % m != 0 || width % m != 0) {
    throw std::invalid_argument("predict_probabilities: slices " + size_str(height, width) +
                                " are not multiples of " + std::to_string(m) +
                                " (2^(depth-1)) as the model (" + net.config().describe() +
                                ") needs; use slices of the size the checkpoint was trained on");
  }
  EvalScope eval(net);
  NoGradGuard no_grad;
  const int64_t pixels = int64_t{height} * width;
  std::vector<float> out(static_cast<size_t>(n * pixels));
  for (int64_t s0 = 0; s0 < n; s0 += batch) {
    const int64_t b = std::min<int64_t>(batch, n - s0);
    const Tensor x = Tensor::from_data(slices + s0 * pixels, {b, height, width, 1}, net.device());
    const std::vector<float> p = sigmoid(net.forward(x)).to_vector();
    std::copy(p.begin(), p.end(), out.begin() + s0 * pixels);
  }
  return out;
}

void check_mappable(const Preprocess& preprocess, int64_t nx, int64_t ny,
                    const std::string& where) {
  (void)preprocess;  // every non-empty size maps (inference_resample)
  if (nx <= 0 || ny <= 0) {
    throw std::invalid_argument(where + ": in-plane size " + size_str(ny, nx) +
                                " (rows x cols) is empty; pass a 3-D CT volume");
  }
}

io::Resample inference_resample(const Preprocess& preprocess, int64_t nx, int64_t ny) {
  const int h = preprocess.slice.height, w = preprocess.slice.width;
  if (preprocess.slice.resample == io::Resample::kStride && stride_ok(ny, h) && stride_ok(nx, w)) {
    return io::Resample::kStride;
  }
  return io::Resample::kBilinear;
}

void map_to_original(const float* net_prob, int height, int width, float* out, int64_t ny,
                     int64_t nx, io::Resample resample) {
  // Stride's inverse is resample_image's upsampling branch (nearest replication). Bilinear of
  // values in [0, 1] is a convex combination, so it stays in [0, 1] too.
  io::resample_image(net_prob, height, width, out, ny, nx, resample);
}

io::HuWindow display_window(const Preprocess& preprocess) {
  if (preprocess.slice.window.enabled) return preprocess.slice.window;
  return io::HuWindow{};  // the liver window [-100, 400]
}

std::vector<uint8_t> threshold_mask(const std::vector<float>& probabilities, float threshold) {
  std::vector<uint8_t> mask(probabilities.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = probabilities[i] > threshold ? 1 : 0;
  return mask;
}

void spacing_mm(const io::NiftiGeometry& g, double out[3]) {
  // NIfTI spatial units (xyzt_units & 7): 1 metre, 2 mm, 3 micron; 0 (unknown) is read as mm,
  // which is what CT exports mean.
  double to_mm = 1.0;
  switch (g.xyzt_units & 7) {
    case 1:
      to_mm = 1000.0;
      break;
    case 3:
      to_mm = 1e-3;
      break;
    default:
      break;
  }
  for (int i = 0; i < 3; ++i) out[i] = g.spacing[i] * to_mm;
}

double mask_volume_ml(const std::vector<uint8_t>& mask, const io::NiftiGeometry& g) {
  int64_t ones = 0;
  for (uint8_t v : mask) ones += v ? 1 : 0;
  double s[3];
  spacing_mm(g, s);
  return static_cast<double>(ones) * s[0] * s[1] * s[2] / 1000.0;  // 1 mL = 1000 mm^3
}

VolumePrediction predict_volume(model::UNet& net, const Preprocess& preprocess,
                                const io::NiftiVolume& volume, const PredictOptions& options) {
  const std::string where = volume.path.empty() ? std::string("volume") : volume.path;
  check_options(options, where);
  const io::NiftiGeometry& stored = volume.geometry;
  if (static_cast<int64_t>(volume.voxels.size()) != stored.nx * stored.ny * stored.nz ||
      stored.nz <= 0) {
    throw std::invalid_argument(where + ": " + std::to_string(volume.voxels.size()) +
                                " voxels do not fill the grid " + std::to_string(stored.nx) + "x" +
                                std::to_string(stored.ny) + "x" + std::to_string(stored.nz) +
                                "; read it with io::read_nifti");
  }
  VolumePrediction r;
  r.stored_axes = io::orientation_name(stored, where);
  r.to_canonical = io::map_to_canonical(r.stored_axes);
  // The canonical voxels: a copy only when the order changes.
  std::vector<float> remapped;
  if (!r.to_canonical.identity()) {
    remapped = io::remap_voxels(volume.voxels, stored.nx, stored.ny, stored.nz, r.to_canonical);
  }
  const float* voxels = r.to_canonical.identity() ? volume.voxels.data() : remapped.data();
  const int64_t stored_dims[3] = {stored.nx, stored.ny, stored.nz};
  const int64_t nx = stored_dims[r.to_canonical.source[0]];
  const int64_t ny = stored_dims[r.to_canonical.source[1]];
  const int64_t nz = stored_dims[r.to_canonical.source[2]];
  check_mappable(preprocess, nx, ny, where);
  io::SliceOptions slice = preprocess.slice;
  slice.resample = r.resample = inference_resample(preprocess, nx, ny);
  const int h = slice.height, w = slice.width;
  const int64_t net_px = int64_t{h} * w, orig_px = nx * ny;

  r.nx = stored.nx;
  r.ny = stored.ny;
  r.nz = stored.nz;
  r.canonical_nx = nx;
  r.canonical_ny = ny;
  r.canonical_nz = nz;
  std::vector<float> probabilities(static_cast<size_t>(orig_px * nz));
  if (options.display == DisplayImages::kNetwork) {
    r.display_height = h;
    r.display_width = w;
  } else if (options.display == DisplayImages::kOriginal) {
    r.display_height = static_cast<int>(ny);
    r.display_width = static_cast<int>(nx);
  }
  r.display.resize(static_cast<size_t>(nz * r.display_height * r.display_width));
  const io::HuWindow shown = display_window(preprocess);

  // One batch of slices at a time keeps memory at batch * H * W on top of the outputs.
  std::vector<float> batch_in(static_cast<size_t>(options.batch * net_px));
  for (int64_t k0 = 0; k0 < nz; k0 += options.batch) {
    const int64_t b = std::min<int64_t>(options.batch, nz - k0);
    for (int64_t s = 0; s < b; ++s) {
      float* in = batch_in.data() + s * net_px;
      io::prepare_image_slice(voxels, nx, ny, nz, k0 + s, slice, in);
      if (options.display == DisplayImages::kNetwork) {
        // Before normalisation: the windowed slice (re-windowed when the checkpoint has none).
        float* d = r.display.data() + (k0 + s) * net_px;
        std::copy(in, in + net_px, d);
        if (!slice.window.enabled) io::apply_window(d, net_px, shown);
      }
      io::normalize(in, static_cast<size_t>(net_px), preprocess.norm);
    }
    const std::vector<float> p =
        predict_probabilities(net, batch_in.data(), b, h, w, options.batch);
    for (int64_t s = 0; s < b; ++s) {
      map_to_original(p.data() + s * net_px, h, w, probabilities.data() + (k0 + s) * orig_px, ny,
                      nx, slice.resample);
    }
  }
  if (options.display == DisplayImages::kOriginal) {
    std::copy(voxels, voxels + orig_px * nz, r.display.begin());
    io::apply_window(r.display.data(), r.display.size(), shown);
  }
  r.canonical_mask = threshold_mask(probabilities, options.threshold);
  if (options.largest_component) io::keep_largest_component(r.canonical_mask.data(), nx, ny, nz);
  for (uint8_t v : r.canonical_mask) r.liver_voxels += v;
  r.liver_volume_ml = mask_volume_ml(r.canonical_mask, stored);
  // Back to the input's voxel order (an exact permutation: no value changes).
  const io::AxisMap back = r.to_canonical.inverse();
  r.mask = io::remap_voxels(r.canonical_mask, nx, ny, nz, back);
  r.probabilities = io::remap_voxels(probabilities, nx, ny, nz, back);
  return r;
}

}  // namespace unet::workflow
