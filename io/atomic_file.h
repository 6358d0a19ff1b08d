// Atomic file replacement: a reader of `path` sees either the old file or the complete new one,
// never a half-written file, even if the writer crashes or throws (DESIGN.md section 3, "Errors").
//
// Writes go to "<path>.tmp.<pid>.<n>" in the same folder (so the final rename stays on one file
// system and is atomic), are fsync'ed, then renamed over path; the folder is fsync'ed too so the
// rename survives a power cut. Writers that need a file name (niftilib, libpng, gzopen) write to
// temp_path() and call commit() when they are done.
//
// A process killed (SIGKILL, power cut) between creating the temp file and the rename leaves the
// temp file behind; the target is untouched. Whoever owns the folder removes such leftovers with
// remove_stale_temp_files before writing again (unet_train does at start, under a folder lock).
//
// Fault injection for crash tests: with UNET_FAULT_STALL_WRITE=<file name>:<n>:<phase> in the
// environment, the n-th atomic write (1-based, counted in this process) of a file with that name
// stops at <phase>, prints one line "UNET_FAULT_STALL_WRITE: stalled ..." to stderr and sleeps
// until it is killed, so a test's SIGKILL lands exactly there. Phases: "partial" (half the bytes
// are in the temp file; write_file_atomic only), "synced" (the temp file is complete and fsync'ed,
// not renamed yet), "renamed" (renamed over the target, the folder not fsync'ed yet). Unset, it
// costs one getenv per file.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

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
  friend void write_file_atomic(const std::string& path, const void* data, size_t bytes);

  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
  int stall_phase_ = 0;  // fault injection (see above); 0: none
};

// Writes `bytes` bytes from `data` to `path` atomically (AtomicFile + write + commit).
void write_file_atomic(const std::string& path, const void* data, size_t bytes);

// What to do about a failed write, by its errno ("the disk is full; free some space", the
// file-size limit, ...): the end of a one-line error message.
std::string write_failure_advice(int err);

// True when `file_name` (a name, no folder) is a temp file of AtomicFile for a target named
// `target_name`: "<target_name>.tmp.<digits>.<digits>".
bool is_temp_file_of(const std::string& file_name, const std::string& target_name);

// Removes the temp files that interrupted writers of `target_names` (names in `folder`) left
// behind and returns their paths. Only call it while no other process writes these targets in
// `folder` (it cannot tell a live writer's temp file from a dead one's). Throws
// std::runtime_error naming the file when one cannot be removed.
std::vector<std::string> remove_stale_temp_files(const std::string& folder,
                                                 const std::vector<std::string>& target_names);

}  // namespace unet::io
