// Name-based image/mask pairing; see pairing.h for the two layouts.
#include "io/pairing.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace fs = std::filesystem;

namespace unet::io {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string trim_separators(const std::string& s) {
  const char* seps = "_-. ";
  const size_t b = s.find_first_not_of(seps);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(seps) - b + 1);
}

// Removes the last case-insensitive occurrence of `word` from stem.
std::string remove_word(const std::string& stem, const std::string& word) {
  const size_t p = lower(stem).rfind(word);
  return stem.substr(0, p) + stem.substr(p + word.size());
}

struct Slot {
  std::vector<std::string> images, masks;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

}  // namespace

bool is_nifti_name(const std::string& file_name) {
  const std::string l = lower(file_name);
  return (ends_with(l, ".nii") && l.size() > 4) || (ends_with(l, ".nii.gz") && l.size() > 7);
}

std::string nifti_stem(const std::string& file_name) {
  const std::string l = lower(file_name);
  if (ends_with(l, ".nii.gz")) return file_name.substr(0, file_name.size() - 7);
  if (ends_with(l, ".nii")) return file_name.substr(0, file_name.size() - 4);
  return file_name;
}

std::vector<CasePair> pair_case_names(const std::string& folder,
                                      const std::vector<std::string>& file_names) {
  std::vector<std::string> names;
  for (const auto& n : file_names) {
    if (is_nifti_name(n) && n[0] != '.') names.push_back(n);
  }
  if (names.empty()) {
    throw std::runtime_error(folder +
                             ": no NIfTI files (.nii or .nii.gz); put image and mask volumes there "
                             "(e.g. case01.nii.gz + case01_mask.nii.gz)");
  }
  std::sort(names.begin(), names.end());
  bool layout_a = false;
  for (const auto& n : names) layout_a |= lower(nifti_stem(n)).find("orig") != std::string::npos;

  // Keys are prefixed by layout so an (a) case never pairs with a (b) file.
  std::map<std::string, Slot> slots;
  for (const auto& n : names) {
    const std::string stem = nifti_stem(n);
    const std::string ls = lower(stem);
    bool mask = false;
    std::string key;
    for (const char* suffix : {"_mask", "_seg", "_label"}) {
      if (!mask && ends_with(ls, suffix)) {
        mask = true;
        key = "b:" + stem.substr(0, stem.size() - std::string(suffix).size());
      }
    }
    if (!mask) {
      if (layout_a && ls.find("orig") != std::string::npos) {
        key = "a:" + remove_word(stem, "orig");
      } else if (layout_a && ls.find("liver") != std::string::npos) {
        mask = true;
        key = "a:" + remove_word(stem, "liver");
      } else {
        key = "b:" + stem;
      }
    }
    (mask ? slots[key].masks : slots[key].images).push_back(n);
  }

  std::vector<std::string> problems;
  std::vector<CasePair> out;
  for (const auto& [key, slot] : slots) {
    if (slot.images.size() > 1) {
      problems.push_back("several images for one case: " + join(slot.images));
    }
    if (slot.masks.size() > 1)
      problems.push_back("several masks for one case: " + join(slot.masks));
    if (slot.masks.empty()) {
      const bool a = key[0] == 'a';
      problems.push_back("image without mask: " + join(slot.images) +
                         (a ? " (expected the same name with 'liver' in place of 'orig')"
                            : " (expected <case>_mask, _seg or _label .nii/.nii.gz)"));
    }
    if (slot.images.empty()) {
      const bool a = key[0] == 'a';
      problems.push_back("mask without image: " + join(slot.masks) +
                         (a ? " (expected the same name with 'orig' in place of 'liver')"
                            : " (expected <case>.nii or <case>.nii.gz)"));
    }
    if (slot.images.size() == 1 && slot.masks.size() == 1) {
      std::string name = trim_separators(key.substr(2));
      if (name.empty()) name = nifti_stem(slot.images[0]);
      out.push_back({name, (fs::path(folder) / slot.images[0]).string(),
                     (fs::path(folder) / slot.masks[0]).string()});
    }
  }
  if (!problems.empty()) {
    std::string msg = folder + ": cannot pair image and mask files: ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw std::runtime_error(msg);
  }
  std::sort(out.begin(), out.end(),
            [](const CasePair& x, const CasePair& y) { return x.name < y.name; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].name == out[i - 1].name) {
      throw std::runtime_error(folder + ": two cases share the name '" + out[i].name + "' (" +
                               out[i - 1].image + " and " + out[i].image + "); rename one");
    }
  }
  return out;
}

std::vector<CasePair> pair_cases(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw std::runtime_error(folder + ": not a folder; expected a folder of .nii/.nii.gz volumes");
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  }
  return pair_case_names(folder, names);
}

}  // namespace unet::io
