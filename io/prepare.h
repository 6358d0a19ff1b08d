// The data preparation pipeline behind unet_prepare (the original data.py, done carefully):
// raw/{train,test}/ NIfTI image+mask pairs -> cache/{train,test}/ slice caches (slice_cache.h).
//
//  1. pair files by name (pairing.h), read each pair, check image and mask share a grid, and
//     reorient both to the canonical voxel order (orientation.h; the manifest records the stored one);
//  2. axial slices, HU window, resample to the target size (slicing.h);
//  3. train keeps slices whose resampled mask has liver (all with keep_empty_train), test keeps
//  all;
//  4. mean/std over every kept training pixel (after windowing), applied to train and test;
//  5. everything is written into "<out>.partial-<pid>" and renamed to <out> at the end, so a
//  failure
//     leaves no half-written cache (an existing <out> is replaced only after success).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "io/slicing.h"

namespace unet::io {

struct PrepareOptions {
  std::string raw_dir;  // holds train/ and (optionally) test/
  std::string out_dir;  // gets train/ and test/
  SliceOptions slice;
  bool keep_empty_train = false;
};

struct PreparedCase {
  std::string split, name;
  int64_t nx = 0, ny = 0, nz = 0;
  int64_t liver_slices = 0, kept = 0;
};

struct PrepareReport {
  std::vector<PreparedCase> cases;
  int64_t train_slices = 0, test_slices = 0;
  double mean = 0, std = 1;
};

// Runs the pipeline; progress lines go to `log` when not null. Throws std::runtime_error naming the
// offending file (unpaired, unreadable, grid mismatch) or folder (missing, empty).
PrepareReport prepare_dataset(const PrepareOptions& options, std::ostream* log);

}  // namespace unet::io
