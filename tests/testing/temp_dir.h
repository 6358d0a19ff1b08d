// A fresh directory under the system temp dir, removed with everything in it when the object goes
// out of scope: the one way tests get a place to write files.
#pragma once

#include <filesystem>
#include <string>

namespace unet::testing {

class TempDir {
 public:
  // The directory is named <prefix>_XXXXXX (mkdtemp), so parallel tests never share one.
  explicit TempDir(const std::string& prefix = "unet_test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string (what most file APIs take).
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace unet::testing
