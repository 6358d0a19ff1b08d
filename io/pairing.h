// Pairs CT image files with their liver-mask files in one folder, by file name.
//
// Two layouts are recognised (both .nii and .nii.gz; other files are ignored):
//  (a) the original project's: names containing "orig" (image) and "liver" (mask), paired by the
//      rest of the name, e.g. "case07_orig.nii" + "case07_liver.nii" (case-insensitive; the last
//      occurrence of the word is removed to form the key). Used when any name contains "orig".
//  (b) "<case>.nii.gz" + "<case>_mask.nii.gz" | "<case>_seg.nii.gz" | "<case>_label.nii.gz".
// A name ending in _mask/_seg/_label is always a (b) mask, so "liver_3.nii.gz" +
// "liver_3_seg.nii.gz" (Decathlon-style names) pairs under (b). Unpaired files, several images or
// masks for one case, and folders without NIfTI files throw std::runtime_error naming every
// offending file.
#pragma once

#include <string>
#include <vector>

namespace unet::io {

struct CasePair {
  std::string name;   // case name (the shared part of the file names, separators trimmed)
  std::string image;  // full paths
  std::string mask;
};

// True for names ending in .nii or .nii.gz (case-insensitive).
bool is_nifti_name(const std::string& file_name);
// File name without .nii / .nii.gz.
std::string nifti_stem(const std::string& file_name);

// Pairs the files in `folder`; result sorted by case name.
std::vector<CasePair> pair_cases(const std::string& folder);
// Same on a list of file names (no file system access); paths are folder + "/" + name.
std::vector<CasePair> pair_case_names(const std::string& folder,
                                      const std::vector<std::string>& file_names);

}  // namespace unet::io
