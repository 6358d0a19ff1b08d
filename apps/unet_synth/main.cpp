// unet_synth: writes the synthetic CT phantom data set (DESIGN.md section 7, docs/DATA.md) in the
// layout unet_prepare reads: DIR/raw/{train,test}/case_XXX.nii.gz (int16 HU) and
// case_XXX_mask.nii.gz (uint8 liver mask), plus DIR/raw/phantom.json recording how each case was
// made. Every case has its own seed derived from --seed, the split and the case number, so a
// case does not change when --train or --test change.
#include <nifti2_io.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "io/atomic_file.h"
#include "io/nifti.h"
#include "phantom/phantom.h"

namespace fs = std::filesystem;
using unet::phantom::Phantom;
using unet::phantom::PhantomOptions;

namespace {

struct Options {
  std::string out;
  int train = 13, test = 7, size = 512, slices_min = 60, slices_max = 200;
  uint64_t seed = 1;
  bool force = false;
};

uint64_t case_seed(uint64_t seed, int split, int index) {
  // splitmix64 of the three numbers: nearby inputs give unrelated seeds.
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + uint64_t(split) * 0xbf58476d1ce4e5b9ULL +
               uint64_t(index) * 0x94d049bb133111ebULL + 0x2545f4914f6cdd1dULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool is_case_file(const fs::path& p) {
  static const std::regex name(R"(case_\d{3,}(_mask)?\.nii\.gz)");
  return std::regex_match(p.filename().string(), name);
}

// Refuses a non-empty raw/ unless --force; with --force removes only what unet_synth writes (case
// files and phantom.json), so stale cases from a bigger earlier run cannot linger.
void prepare_output(const Options& o, const fs::path& raw) {
  if (fs::exists(raw) && !fs::is_directory(raw)) {
    throw std::runtime_error(raw.string() + " exists and is not a folder; choose another --out");
  }
  const bool non_empty = fs::exists(raw) && !fs::is_empty(raw);
  if (non_empty && !o.force) {
    throw std::runtime_error(raw.string() +
                             " is not empty; pass --force to replace the phantom cases in it, or "
                             "choose another --out");
  }
  if (non_empty) {
    for (const char* split : {"train", "test"}) {
      const fs::path dir = raw / split;
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.is_regular_file() && is_case_file(entry.path())) fs::remove(entry.path());
      }
    }
    fs::remove(raw / "phantom.json");
  }
  fs::create_directories(raw / "train");
  fs::create_directories(raw / "test");
}

nlohmann::json write_case(const Options& o, const fs::path& dir, const char* split, int split_id,
                          int index) {
  const auto start = std::chrono::steady_clock::now();
  PhantomOptions po;
  po.nx = po.ny = o.size;
  po.nz_min = o.slices_min;
  po.nz_max = o.slices_max;
  po.seed = case_seed(o.seed, split_id, index);
  const Phantom p = unet::phantom::make_phantom(po);

  char name[32];
  std::snprintf(name, sizeof(name), "case_%03d", index);
  const std::vector<float> hu(p.hu.begin(), p.hu.end());
  unet::io::write_nifti((dir / (std::string(name) + ".nii.gz")).string(), p.geometry, hu,
                        NIFTI_TYPE_INT16);
  const std::vector<float> mask(p.liver.begin(), p.liver.end());
  unet::io::write_nifti((dir / (std::string(name) + "_mask.nii.gz")).string(), p.geometry, mask,
                        NIFTI_TYPE_UINT8);

  const auto& g = p.geometry;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%-5s %s: %lldx%lldx%lld, %.2fx%.2fx%.2f mm, liver %.1f%% of voxels (slices %d-%d), "
      "noise %.1f HU, %.1f s\n",
      split, name, (long long)g.nx, (long long)g.ny, (long long)g.nz, g.spacing[0], g.spacing[1],
      g.spacing[2], 100.0 * double(p.info.liver_voxels) / double(p.liver.size()),
      p.info.liver_first_slice, p.info.liver_last_slice, p.info.noise_sigma_hu, seconds);
  std::fflush(stdout);
  return {{"split", split},
          {"name", name},
          {"seed", po.seed},
          {"shape", {g.nx, g.ny, g.nz}},
          {"spacing_mm", {g.spacing[0], g.spacing[1], g.spacing[2]}},
          {"liver_voxels", p.info.liver_voxels},
          {"liver_slices", {p.info.liver_first_slice, p.info.liver_last_slice}},
          {"liver_hu", p.info.liver_hu},
          {"noise_sigma_hu", p.info.noise_sigma_hu},
          {"offset_hu", p.info.offset_hu},
          {"lesions", p.info.lesions},
          {"enhanced_vessels", p.info.enhanced_vessels}};
}

int run(const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path raw = fs::path(o.out) / "raw";
  prepare_output(o, raw);
  nlohmann::json cases = nlohmann::json::array();
  for (int n = 0; n < o.train; ++n) cases.push_back(write_case(o, raw / "train", "train", 0, n));
  for (int n = 0; n < o.test; ++n) cases.push_back(write_case(o, raw / "test", "test", 1, n));
  const nlohmann::json manifest = {{"generator", "unet_synth"},
                                   {"seed", o.seed},
                                   {"size", o.size},
                                   {"slices", {o.slices_min, o.slices_max}},
                                   {"cases", cases}};
  const std::string text = manifest.dump(2) + "\n";
  unet::io::write_file_atomic((raw / "phantom.json").string(), text.data(), text.size());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("unet_synth: wrote %d train + %d test cases to %s in %.1f s\n", o.train, o.test,
              raw.string().c_str(), seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Write a synthetic abdominal CT phantom data set (NIfTI volumes + liver masks)"};
  app.add_option("--out", o.out, "Output folder; cases go to OUT/raw/{train,test}")->required();
  app.add_option("--train", o.train, "Number of training cases")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--test", o.test, "Number of test cases")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--size", o.size, "Slice size in voxels (size x size)")
      ->capture_default_str()
      ->check(CLI::Range(16, 4096));
  app.add_option("--slices-min", o.slices_min, "Fewest slices per volume")
      ->capture_default_str()
      ->check(CLI::Range(4, 2048));
  app.add_option("--slices-max", o.slices_max, "Most slices per volume")
      ->capture_default_str()
      ->check(CLI::Range(4, 2048));
  app.add_option("--seed", o.seed, "Seed; the same seed writes the same files")
      ->capture_default_str();
  app.add_flag("--force", o.force, "Replace the phantom cases in an existing, non-empty OUT/raw");
  try {
    app.parse(argc, argv);
    if (o.slices_min > o.slices_max) {
      throw CLI::ValidationError("--slices-min", "--slices-min " + std::to_string(o.slices_min) +
                                                     " is larger than --slices-max " +
                                                     std::to_string(o.slices_max));
    }
    if (o.train + o.test == 0) {
      throw CLI::ValidationError("--train/--test", "nothing to write: --train and --test are 0");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_synth: error: %s\n", e.what());
    return 1;
  }
}
