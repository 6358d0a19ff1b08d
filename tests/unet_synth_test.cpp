// unet_synth end to end, run as a subprocess on a tiny size: the files it writes are read back
// with read_nifti; bad options and a non-empty output folder give a non-zero exit and a message.
#include <gtest/gtest.h>
#include <nifti2_io.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/nifti.h"
#include "tests/testing/app_run.h"
#include "tests/testing/temp_dir.h"

namespace unet::io {
namespace {

namespace fs = std::filesystem;

const std::string kBinary = UNET_BINARY_DIR "/unet_synth";

using unet::testing::AppResult;
using unet::testing::TempDir;

// Runs unet_synth with `args`, capturing stdout and stderr in files next to the output.
AppResult run(const TempDir& dir, const std::string& args) {
  return unet::testing::run_app(kBinary, args, dir.path());
}

const char* kTiny = "--size 64 --train 2 --test 1 --slices-min 8 --slices-max 10";

class UnetSynth : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the unet_synth target";
  }
};

TEST_F(UnetSynth, WritesReadableCasesAndMasks) {
  TempDir dir;
  const fs::path out = dir.path() / "data";
  const AppResult r = run(dir, "--out '" + out.string() + "' " + kTiny + " --seed 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("train case_000: 64x64x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train case_001: 64x64x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test  case_000: 64x64x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unet_synth: wrote 2 train + 1 test cases"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "raw" / "phantom.json"));
  EXPECT_FALSE(fs::exists(out / "raw" / "test" / "case_001.nii.gz"));

  for (const char* rel : {"train/case_000", "train/case_001", "test/case_000"}) {
    const NiftiVolume image = read_nifti((out / "raw" / (std::string(rel) + ".nii.gz")).string());
    const NiftiVolume mask =
        read_nifti((out / "raw" / (std::string(rel) + "_mask.nii.gz")).string());
    EXPECT_EQ(image.source_datatype, NIFTI_TYPE_INT16) << rel;
    EXPECT_EQ(mask.source_datatype, NIFTI_TYPE_UINT8) << rel;
    EXPECT_EQ(image.geometry.nx, 64);
    EXPECT_EQ(image.geometry.ny, 64);
    EXPECT_GE(image.geometry.nz, 8);
    EXPECT_LE(image.geometry.nz, 10);
    std::string why;
    EXPECT_TRUE(same_grid(image.geometry, mask.geometry, &why)) << rel << ": " << why;
    EXPECT_EQ(image.geometry.sform_code, 1);
    int64_t liver = 0;
    for (float m : mask.voxels) {
      ASSERT_TRUE(m == 0 || m == 1) << rel;
      liver += m == 1;
    }
    EXPECT_GT(liver, 0) << rel;
    float lo = 1e9f, hi = -1e9f;
    for (float v : image.voxels) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_LT(lo, -900) << rel << ": no air";
    EXPECT_GT(hi, 300) << rel << ": no bone";
    EXPECT_GE(lo, -1024);
    EXPECT_LE(hi, 3071);
  }

  // Same seed, same files; the train cases differ from each other.
  const fs::path again = dir.path() / "again";
  ASSERT_EQ(run(dir, "--out '" + again.string() + "' " + kTiny + " --seed 3").code, 0);
  const auto a = read_nifti((out / "raw/train/case_001.nii.gz").string());
  const auto b = read_nifti((again / "raw/train/case_001.nii.gz").string());
  EXPECT_TRUE(a.voxels == b.voxels);
  const auto c = read_nifti((out / "raw/train/case_000.nii.gz").string());
  EXPECT_FALSE(a.voxels == c.voxels);
}

TEST_F(UnetSynth, RefusesANonEmptyRawFolderWithoutForce) {
  TempDir dir;
  const fs::path out = dir.path() / "data";
  ASSERT_EQ(run(dir, "--out '" + out.string() + "' " + kTiny).code, 0);
  // A file the user put there survives --force; stale cases of a bigger run do not.
  std::ofstream(out / "raw" / "train" / "notes.txt") << "mine";
  std::ofstream(out / "raw" / "train" / "case_007.nii.gz") << "stale";

  const AppResult refused = run(dir, "--out '" + out.string() + "' " + kTiny);
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("unet_synth: error: "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("is not empty; pass --force"), std::string::npos) << refused.err;
  EXPECT_TRUE(fs::exists(out / "raw" / "train" / "case_007.nii.gz"));

  const AppResult forced = run(dir, "--out '" + out.string() + "' " + kTiny + " --force");
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_TRUE(fs::exists(out / "raw" / "train" / "notes.txt"));
  EXPECT_FALSE(fs::exists(out / "raw" / "train" / "case_007.nii.gz"));
  EXPECT_TRUE(fs::exists(out / "raw" / "train" / "case_001_mask.nii.gz"));
}

TEST_F(UnetSynth, BadOptionsFailWithAMessage) {
  TempDir dir;
  const std::string out = "--out '" + (dir.path() / "data").string() + "' ";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : {Case{"--train 1", "--out is required"}, Case{out + "--size abc", "--size"},
                        Case{out + "--size 8", "--size: Value 8 not in range 16 to 4096"},
                        Case{out + "--train -1", "--train"},
                        Case{out + "--slices-min 20 --slices-max 10",
                             "--slices-min 20 is larger than --slices-max 10"},
                        Case{out + "--train 0 --test 0", "nothing to write"},
                        Case{out + "--no-such-option", "no-such-option"}}) {
    const AppResult r = run(dir, c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_NE((r.err + r.out).find(c.message), std::string::npos)
        << c.args << " -> " << r.err << r.out;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "data" / "raw")) << "a rejected run wrote files";
}

TEST_F(UnetSynth, OutputThatIsAFileIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path() / "data");
  std::ofstream(dir.path() / "data" / "raw") << "not a folder";
  const AppResult r = run(dir, "--out '" + (dir.path() / "data").string() + "' " + kTiny);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("exists and is not a folder"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace unet::io
