// unet_prepare's pipeline; see prepare.h. Peak memory is the kept slices of one split plus one
// volume pair (a 512x512x200 float volume is 200 MB).
#include "io/prepare.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "io/nifti.h"
#include "io/orientation.h"
#include "io/pairing.h"
#include "io/slice_cache.h"

namespace fs = std::filesystem;

namespace unet::io {
namespace {

struct SplitData {
  SliceCacheManifest manifest;
  std::vector<float> images;
  std::vector<uint8_t> masks;
};

std::string fmt(const char* f, double a, double b, double c) {
  char buf[96];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

SplitData slice_split(const std::string& split, const std::vector<CasePair>& pairs,
                      const PrepareOptions& opt, bool keep_empty, PrepareReport& report,
                      std::ostream* log) {
  SplitData d;
  d.manifest.split = split;
  d.manifest.options = opt.slice;
  d.manifest.keep_empty = keep_empty;
  const int64_t hw = int64_t{opt.slice.height} * opt.slice.width;
  std::vector<float> img(static_cast<size_t>(hw));
  std::vector<uint8_t> msk(static_cast<size_t>(hw));
  for (const CasePair& p : pairs) {
    NiftiVolume stored_image = read_nifti(p.image);
    NiftiVolume stored_mask = read_nifti(p.mask);
    std::string why;
    if (!same_grid(stored_image.geometry, stored_mask.geometry, &why)) {
      throw std::runtime_error(p.mask + ": mask is not on the grid of its image " + p.image + " (" +
                               why + "); fix or re-export the mask");
    }
    if (log && !stored_image.warning.empty()) *log << "  warning: " << stored_image.warning << "\n";
    // Slices are cut from the canonical voxel order (orientation.h); the mask follows the image's
    // map, which is its own too since both share one grid.
    CanonicalVolume canonical = to_canonical(std::move(stored_image));
    const NiftiVolume& image = canonical.volume;
    const NiftiGeometry& g = image.geometry;
    const std::vector<float> mask_voxels =
        remap_voxels(stored_mask.voxels, stored_mask.geometry.nx, stored_mask.geometry.ny,
                     stored_mask.geometry.nz, canonical.to_canonical);
    CacheVolume v;
    v.name = p.name;
    v.image_path = p.image;
    v.mask_path = p.mask;
    v.stored_axes = canonical.stored_axes;
    v.nx = g.nx;
    v.ny = g.ny;
    v.nz = g.nz;
    for (int i = 0; i < 3; ++i) v.spacing[i] = g.spacing[i];
    const Affine a = voxel_to_world(g);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) v.voxel_to_world[r][c] = a[r][c];
    // Shape errors (e.g. a stride factor that does not divide this volume) name the file.
    try {
      for (int64_t k = 0; k < g.nz; ++k) {
        const size_t ones =
            prepare_mask_slice(mask_voxels.data(), g.nx, g.ny, g.nz, k, opt.slice, msk.data());
        v.liver_slices += ones > 0;
        if (ones == 0 && !keep_empty) continue;
        prepare_image_slice(image.voxels.data(), g.nx, g.ny, g.nz, k, opt.slice, img.data());
        v.slices.push_back(k);
        d.images.insert(d.images.end(), img.begin(), img.end());
        d.masks.insert(d.masks.end(), msk.begin(), msk.end());
      }
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(p.image + ": " + e.what());
    }
    report.cases.push_back(
        {split, p.name, g.nx, g.ny, g.nz, v.liver_slices, static_cast<int64_t>(v.slices.size())});
    if (log) {
      *log << "  " << split << " " << p.name << ": " << g.nx << "x" << g.ny << "x" << g.nz
           << fmt(" voxels of %.3gx%.3gx%.3g mm", g.spacing[0], g.spacing[1], g.spacing[2]) << ", "
           << v.liver_slices << " slices with liver, " << v.slices.size() << " kept"
           << (canonical.to_canonical.identity()
                   ? std::string()
                   : ", reoriented " + v.stored_axes + " -> " + kCanonicalAxes)
           << "\n";
      if (v.liver_slices == 0) *log << "  warning: " << p.mask << " has no liver voxels\n";
    }
    d.manifest.volumes.push_back(std::move(v));
  }
  index_volumes(d.manifest);
  return d;
}

std::vector<CasePair> pairs_in(const fs::path& dir) { return pair_cases(dir.string()); }

}  // namespace

PrepareReport prepare_dataset(const PrepareOptions& opt, std::ostream* log) {
  if (opt.slice.height <= 0 || opt.slice.width <= 0) {
    throw std::invalid_argument("prepare: slice size must be positive (got " +
                                std::to_string(opt.slice.height) + "x" +
                                std::to_string(opt.slice.width) + ")");
  }
  if (opt.slice.window.enabled && !(opt.slice.window.hi > opt.slice.window.lo)) {
    throw std::invalid_argument("prepare: HU window lo must be below hi");
  }
  const fs::path raw(opt.raw_dir), out(opt.out_dir);
  std::error_code ec;
  if (!fs::is_directory(raw / "train", ec)) {
    throw std::runtime_error((raw / "train").string() +
                             ": not a folder; --raw must hold train/ (and test/) with NIfTI pairs");
  }
  // Pair both splits before reading any volume: naming mistakes surface in a second.
  const auto train_pairs = pairs_in(raw / "train");
  const bool has_test = fs::is_directory(raw / "test", ec);
  std::vector<CasePair> test_pairs;
  if (has_test) test_pairs = pairs_in(raw / "test");
  if (log) {
    *log << "unet_prepare: " << train_pairs.size() << " training and " << test_pairs.size()
         << " test cases; slices " << opt.slice.height << "x" << opt.slice.width << " ("
         << resample_name(opt.slice.resample) << "), window "
         << (opt.slice.window.enabled ? "[" + std::to_string(opt.slice.window.lo) + ", " +
                                            std::to_string(opt.slice.window.hi) + "]"
                                      : std::string("off"))
         << "\n";
    if (!has_test) *log << "  note: no " << (raw / "test").string() << " folder; no test split\n";
  }

  PrepareReport report;
  SplitData train = slice_split("train", train_pairs, opt, opt.keep_empty_train, report, log);
  if (train.manifest.num_slices() == 0) {
    throw std::runtime_error((raw / "train").string() +
                             ": no training slice contains liver; check the masks (or pass "
                             "--keep-empty-train)");
  }
  StatsAccumulator acc;
  acc.add(train.images.data(), train.images.size());
  const NormStats norm{acc.mean(), acc.stddev() > 1e-12 ? acc.stddev() : 1.0};
  train.manifest.norm = norm;
  normalize(train.images.data(), train.images.size(), norm);

  const fs::path tmp = out.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  try {
    write_slice_cache((tmp / "train").string(), train.manifest, train.images, train.masks);
    report.train_slices = train.manifest.num_slices();
    train = SplitData{};  // free before the test split
    if (has_test) {
      SplitData test = slice_split("test", test_pairs, opt, true, report, log);
      test.manifest.norm = norm;
      normalize(test.images.data(), test.images.size(), norm);
      write_slice_cache((tmp / "test").string(), test.manifest, test.images, test.masks);
      report.test_slices = test.manifest.num_slices();
    }
    // Swap in the finished folder; the old one (if any) is removed only after the rename.
    const fs::path old = out.string() + ".old-" + std::to_string(::getpid());
    const bool replace = fs::exists(out, ec);
    if (replace) fs::rename(out, old);
    fs::rename(tmp, out);
    if (replace) fs::remove_all(old, ec);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  report.mean = norm.mean;
  report.std = norm.std;
  if (log) {
    *log << "unet_prepare: wrote " << report.train_slices << " training and " << report.test_slices
         << " test slices to " << out.string() << "; training mean " << norm.mean << ", std "
         << norm.std
         << (opt.slice.window.enabled ? " (after windowing)" : " (raw values, no window)") << "\n";
  }
  return report;
}

}  // namespace unet::io
