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

// Throws std::invalid_argument "<where>: ..." when a slice of ny x nx cannot go through the
// checkpoint's preprocessing and back (stride resampling needs an integer factor per axis; the
// message suggests a checkpoint trained with bilinear resampling). `where` names the file.
void check_mappable(const Preprocess& preprocess, int64_t nx, int64_t ny, const std::string& where);

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
  int64_t nx = 0, ny = 0, nz = 0;    // the original grid
  std::vector<uint8_t> mask;         // nx*ny*nz, 0/1, i fastest (NIfTI order)
  std::vector<float> probabilities;  // nx*ny*nz in [0, 1]
  int display_height = 0, display_width = 0;
  std::vector<float> display;    // nz * display_height * display_width, in [0, 1]
  int64_t liver_voxels = 0;      // ones in mask
  double liver_volume_ml = 0.0;  // liver_voxels times the voxel volume
};

// Segments every axial slice of `volume`: prepare_image_slice + normalize with the checkpoint's
// stats, predict, map back (map_to_original), threshold, optional largest component.
// Throws std::invalid_argument naming volume.path for bad options or an unmappable in-plane size.
VolumePrediction predict_volume(model::UNet& net, const Preprocess& preprocess,
                                const io::NiftiVolume& volume, const PredictOptions& options);

}  // namespace unet::workflow
