// Atomic file replacement: a reader of `path` sees either the old file or the complete new one,
// never a half-written file, even if the writer crashes or throws (DESIGN.md section 3, "Errors").
//
// Writes go to "<path>.tmp.<pid>.<n>" in the same folder (so the final rename stays on one file
// system and is atomic), are fsync'ed, then renamed over path; the folder is fsync'ed too so the
// rename survives a power cut. Writers that need a file name (niftilib, libpng, gzopen) write to
// temp_path() and call commit() when they are done.
#pragma once

#include <cstddef>
#include <string>

namespace unet::io {

class AtomicFile {
 public:
  // Throws std::runtime_error when the folder of `path` does not exist.
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Removes the temp file unless commit() succeeded; never throws.
  ~AtomicFile();

  const std::string& path() const { return path_; }
  std::string temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }

  // fsync the temp file, rename it over path, fsync the folder. Throws std::runtime_error naming
  // the path on failure (the temp file is removed then); throws std::logic_error if called twice.
  void commit();

 private:
  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
};

// Writes `bytes` bytes from `data` to `path` atomically (AtomicFile + write + commit).
void write_file_atomic(const std::string& path, const void* data, size_t bytes);

}  // namespace unet::io
