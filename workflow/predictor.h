// Inference for apps (unet_predict now, unet_serve later): the checkpoint's preprocessing applied
// to new axial slices, the U-Net in eval mode without autograd, in batches on the model's device,
// and the probabilities mapped back onto the volume's original in-plane grid.
//
// Cost: one forward per slice (24.1 GFLOP for the seed U-Net at 256x256) dominates; preprocessing
// and the inverse mapping are one pass over each slice (bilinear reads 4 pixels per output), and
// the host<->device copies move 4 bytes per network pixel each way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/nifti.h"
#include "io/orientation.h"
#include "io/slicing.h"
#include "model/unet.h"
#include "workflow/checkpoint.h"

namespace unet::workflow {

// Sigmoid probabilities for n preprocessed (windowed, resampled, normalised) slices [n, H, W]
// (NHWC with C = 1): `batch` slices per forward, on net.device(). The net is put in eval mode for
// the call (batch norm uses its running statistics) and restored afterwards; no tape is recorded.
// Throws std::invalid_argument for batch < 1, sizes <= 0 or H, W not multiples of
// net.config().size_multiple().
std::vector<float> predict_probabilities(model::UNet& net, const float* slices, int64_t n,
                                         int height, int width, int batch);

// Throws std::invalid_argument "<where>: ..." when a slice of ny x nx cannot be segmented (an
// empty in-plane size). Any other size can: see inference_resample. `where` names the file.
void check_mappable(const Preprocess& preprocess, int64_t nx, int64_t ny, const std::string& where);

// How a slice of ny x nx goes to the network's grid and back at inference: the checkpoint's own
// resampling when it applies (stride needs an integer factor per axis, as in training), else
// bilinear (half-pixel centres) for the image in and the probabilities out, so any in-plane size
// can be segmented whatever the training resampling was.
io::Resample inference_resample(const Preprocess& preprocess, int64_t nx, int64_t ny);

// Maps one network-resolution probability slice [H, W] back to the original grid [ny, nx]:
// stride -> nearest (each network pixel replicated over the block it was sampled from),
// bilinear -> bilinear (half-pixel centres). Values stay in [0, 1].
void map_to_original(const float* net_prob, int height, int width, float* out, int64_t ny,
                     int64_t nx, io::Resample resample);

// Display windowing for overlays: clamps HU to [lo, hi] and maps to [0, 1] (the checkpoint's
// window when it has one, else the liver window [-100, 400]).
io::HuWindow display_window(const Preprocess& preprocess);

// 1 where p > threshold (strictly: with threshold 0.5, p = 0.5 is background, like Keras's
// `pred > 0.5`).
std::vector<uint8_t> threshold_mask(const std::vector<float>& probabilities, float threshold);

// The voxel spacing in mm from the header's spatial unit (metre, mm, micron; unknown read as mm).
void spacing_mm(const io::NiftiGeometry& g, double out[3]);

// Volume of the ones in mL from the NIfTI spacing and its spatial unit (mm when unknown).
double mask_volume_ml(const std::vector<uint8_t>& mask, const io::NiftiGeometry& g);

enum class DisplayImages {
  kNone,      // no display images (the caller windows the volume itself if it needs to)
  kNetwork,   // the slices as the network saw them, before normalisation: H x W per slice
  kOriginal,  // the original slices windowed for display: ny x nx per slice
};

struct PredictOptions {
  float threshold = 0.5f;          // in (0, 1)
  bool largest_component = false;  // keep only the largest 6-connected 3-D component
  int batch = 8;                   // slices per forward
  DisplayImages display = DisplayImages::kNone;
};

struct VolumePrediction {
  // In the input's own grid and voxel order: what is written back beside the input.
  int64_t nx = 0, ny = 0, nz = 0;
  std::vector<uint8_t> mask;         // nx*ny*nz, 0/1, i fastest (NIfTI order)
  std::vector<float> probabilities;  // nx*ny*nz in [0, 1]
  // In the canonical voxel order the network saw (io/orientation.h): axial slice k of these is
  // what overlays and viewers show. canonical = remap_voxels(stored, to_canonical).
  std::string stored_axes;  // the input's axis codes, "none" without orientation
  io::AxisMap to_canonical;
  int64_t canonical_nx = 0, canonical_ny = 0, canonical_nz = 0;
  std::vector<uint8_t> canonical_mask;
  io::Resample resample = io::Resample::kStride;  // what inference_resample chose
  int display_height = 0, display_width = 0;
  std::vector<float> display;    // canonical_nz * display_height * display_width, in [0, 1]
  int64_t liver_voxels = 0;      // ones in mask
  double liver_volume_ml = 0.0;  // liver_voxels times the voxel volume
};

// Segments `volume` stored in any voxel order: reorients it to the canonical order, then per axial
// slice prepare_image_slice (with inference_resample) + normalize with the checkpoint's stats,
// predict, map back to the slice's grid, threshold, optional largest component; and returns the
// mask and probabilities in the input's own voxel order too.
// Throws std::invalid_argument naming volume.path for bad options, an empty in-plane size or a
// singular orientation.
VolumePrediction predict_volume(model::UNet& net, const Preprocess& preprocess,
                                const io::NiftiVolume& volume, const PredictOptions& options);

}  // namespace unet::workflow
