// Name-based pairing: both layouts, extensions, ignored files, and every error with its message.
#include "io/pairing.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace fs = std::filesystem;
using namespace unet::io;

namespace {

std::string pairs_str(const std::vector<CasePair>& v) {
  std::string s;
  for (const auto& p : v) s += p.name + "=" + p.image + "+" + p.mask + ";";
  return s;
}

// Expects pairing `names` in raw/train to fail with a runtime_error that starts with the folder and
// contains every one of `parts`.
void expect_pairing_error(const std::vector<std::string>& names,
                          const std::vector<std::string>& parts) {
  try {
    pair_case_names("raw/train", names);
    FAIL() << "expected a pairing error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("raw/train: ", 0), 0u) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << p << " in " << msg;
  }
}

TEST(Pairing, OriginalOrigLiverLayout) {
  const auto v =
      pair_case_names("raw/train", {"image02-liver.nii", "image01-orig.nii", "image01-liver.nii",
                                    "image02-ORIG.nii.gz", "notes.txt", ".hidden_orig.nii"});
  EXPECT_EQ(pairs_str(v),
            "image01=raw/train/image01-orig.nii+raw/train/image01-liver.nii;"
            "image02=raw/train/image02-ORIG.nii.gz+raw/train/image02-liver.nii;");
}

TEST(Pairing, OrigLiverInTheMiddleOfTheName) {
  const auto v = pair_case_names("d", {"ircad_orig_e05.nii.gz", "ircad_liver_e05.nii.gz"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "ircad__e05");
  EXPECT_EQ(v[0].image, "d/ircad_orig_e05.nii.gz");
  EXPECT_EQ(v[0].mask, "d/ircad_liver_e05.nii.gz");
}

TEST(Pairing, SuffixLayoutAllThreeSuffixes) {
  const auto v = pair_case_names("d", {"c3.nii", "c1.nii.gz", "c1_mask.nii.gz", "c2.nii.gz",
                                       "c2_seg.nii.gz", "c3_label.nii", "README.md"});
  EXPECT_EQ(pairs_str(v),
            "c1=d/c1.nii.gz+d/c1_mask.nii.gz;c2=d/c2.nii.gz+d/c2_seg.nii.gz;"
            "c3=d/c3.nii+d/c3_label.nii;");
}

TEST(Pairing, DecathlonNamesWithLiverPairBySuffix) {
  // No 'orig' anywhere: 'liver' is just part of the case name.
  const auto v = pair_case_names("d", {"liver_3.nii.gz", "liver_3_seg.nii.gz"});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "liver_3");
}

TEST(Pairing, Errors) {
  expect_pairing_error({"a.nii.gz", "a_mask.nii.gz", "b.nii.gz"},
                       {"image without mask: b.nii.gz", "_mask, _seg or _label"});
  expect_pairing_error({"a_seg.nii.gz"}, {"mask without image: a_seg.nii.gz"});
  expect_pairing_error({"x-orig.nii", "y-liver.nii"},
                       {"image without mask: x-orig.nii", "mask without image: y-liver.nii",
                        "'liver' in place of 'orig'"});
  expect_pairing_error({"a.nii", "a.nii.gz", "a_mask.nii"},
                       {"several images for one case: a.nii, a.nii.gz"});
  expect_pairing_error({"a.nii", "a_mask.nii", "a_seg.nii"},
                       {"several masks for one case: a_mask.nii, a_seg.nii"});
  // Two layouts producing the same case name.
  expect_pairing_error({"k_orig.nii", "k_liver.nii", "k.nii", "k_mask.nii"},
                       {"two cases share the name 'k'"});
  expect_pairing_error({"notes.txt"}, {"no NIfTI files (.nii or .nii.gz)"});
  expect_pairing_error({}, {"no NIfTI files"});
}

TEST(Pairing, ReadsAFolder) {
  const unet::testing::TempDir dir("pairing_test");
  const std::string tmpl = dir.path().string();
  for (const char* n : {"p1.nii.gz", "p1_mask.nii.gz", "info.json"})
    std::ofstream(fs::path(tmpl) / n);
  fs::create_directory(fs::path(tmpl) / "sub.nii");  // folders are not files
  const auto v = pair_cases(tmpl);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].image, (fs::path(tmpl) / "p1.nii.gz").string());
  unet::testing::expect_runtime_error([&] { pair_cases(tmpl + "/missing"); },
                                      "missing: not a folder");
  EXPECT_TRUE(is_nifti_name("A.NII.GZ"));
  EXPECT_FALSE(is_nifti_name(".nii"));
  EXPECT_FALSE(is_nifti_name("a.nii.bz2"));
  EXPECT_EQ(nifti_stem("x.y.nii.gz"), "x.y");
}

}  // namespace
