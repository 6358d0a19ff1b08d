#include "tests/testing/temp_dir.h"

#include <stdlib.h>

#include <stdexcept>
#include <system_error>

namespace unet::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("TempDir: cannot create a directory from " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;  // never throw from a destructor; a leftover temp dir is harmless
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace unet::testing
