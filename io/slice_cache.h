// The slice cache: what unet_prepare writes and unet_train / unet_predict read. One folder per
// split:
//
//   images.npy     float32 [S, H, W, 1] (NHWC, C = 1): windowed, resampled, normalised slices
//   masks.npy      uint8   [S, H, W, 1]: 0/1 (0/255 files are accepted and read as 0/1)
//   manifest.json  sources, per-volume slice indices and grid, volume id per slice, options and the
//                  normalisation stats (always the training set's, also in the test manifest)
//
// Slice s of the cache is axial slice volumes[v].slices[s - volumes[v].first] of volume
// v = volume_of_slice[s], with row = j and col = i (see slicing.h). docs/PREPARE.md has the format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/slicing.h"

namespace unet::io {

// Version 2: slices cut in the canonical voxel order (orientation.h) with each volume's stored
// order recorded, and CRC-32 checksums of the manifest and both arrays. Version 1 caches (no
// reorientation, no checksums) are refused with a request to rerun unet_prepare.
constexpr int kSliceCacheVersion = 2;

struct CacheVolume {
  std::string name;        // case name (from pairing)
  std::string image_path;  // source files as given to unet_prepare
  std::string mask_path;
  // The volume's full-resolution grid in canonical order (what was sliced): dimensions, spacing and
  // voxel-to-world. Predictions are mapped back to it and then to the stored order.
  int64_t nx = 0, ny = 0, nz = 0;
  double spacing[3] = {1, 1, 1};  // mm
  double voxel_to_world[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
  std::string stored_axes = "LPS";  // the source file's axis codes ("none": no orientation)
  std::vector<int64_t> slices;      // axial index k of each cached slice, ascending
  int64_t first = 0;                // index in images.npy of this volume's first slice
  int64_t liver_slices = 0;         // how many of the volume's nz slices contain liver
};

struct SliceCacheManifest {
  int version = kSliceCacheVersion;
  // CRC-32 (zlib) of the arrays' data bytes as stored in images.npy / masks.npy. Set by
  // write_slice_cache, checked by read_slice_cache.
  uint32_t images_crc32 = 0, masks_crc32 = 0;
  std::string split;  // "train" or "test"
  SliceOptions options;
  bool keep_empty = false;  // kept slices without liver (always true for test)
  NormStats norm;           // applied to images.npy
  std::vector<CacheVolume> volumes;
  std::vector<int32_t> volume_of_slice;  // size S
  int64_t num_slices() const { return static_cast<int64_t>(volume_of_slice.size()); }
};

struct SliceCache {
  SliceCacheManifest manifest;
  std::vector<float> images;   // S*H*W
  std::vector<uint8_t> masks;  // S*H*W, 0/1
  int64_t num_slices() const { return manifest.num_slices(); }
  int height() const { return manifest.options.height; }
  int width() const { return manifest.options.width; }
};

// Sets volume_of_slice and each volume's `first` from the volumes' slice lists (in order).
void index_volumes(SliceCacheManifest& manifest);

std::string manifest_to_json(const SliceCacheManifest& manifest);
// The JSON carries its own CRC-32 (of the manifest without the "integrity" member), so any edit
// after preparation is detected. Parses and checks a manifest (checksum, every field present with
// the right type, consistent counts, slice indices inside [0, nz), valid axis codes). `where`
// names the file in messages.
SliceCacheManifest manifest_from_json(const std::string& text, const std::string& where);

// Writes the three files into `dir` (created if missing; each file atomically). images and masks
// hold num_slices * H * W values. Throws std::invalid_argument on inconsistent sizes.
void write_slice_cache(const std::string& dir, const SliceCacheManifest& manifest,
                       const std::vector<float>& images, const std::vector<uint8_t>& masks);

// Reads and validates a cache folder: manifest, dtypes, shapes [S, H, W, 1] against the manifest,
// the arrays' checksums, mask values in {0, 1} or {0, 255} (returned as 0/1), finite images. Throws std::runtime_error
// "<dir>/<file>: <what>; <what to do>" (usually: rerun unet_prepare).
SliceCache read_slice_cache(const std::string& dir);
// Only the manifest (for apps that need the stats or the geometry, not the pixels).
SliceCacheManifest read_slice_cache_manifest(const std::string& dir);

}  // namespace unet::io
