// AtomicFile: temp file in the target's folder, fsync, rename, fsync the folder.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

namespace unet::io {
namespace {

std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string errno_text() { return std::strerror(errno); }

// Unique per process and call, so two writers of the same path in one process do not collide.
std::atomic<unsigned long long> g_temp_counter{0};

// Fault injection (UNET_FAULT_STALL_WRITE, see the header).
enum StallPhase { kNoStall = 0, kPartial, kSynced, kRenamed };
const char* const kStallVariable = "UNET_FAULT_STALL_WRITE";
std::atomic<long long> g_stall_matches{0};

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The phase at which this write of `path` is to stall; kNoStall unless the variable names this
// file and this is its n-th write in the process.
int stall_phase_for(const std::string& path) {
  const char* value = std::getenv(kStallVariable);
  if (value == nullptr || *value == '\0') return kNoStall;
  const std::string spec = value;
  const size_t c2 = spec.rfind(':');
  const size_t c1 =
      (c2 == std::string::npos || c2 == 0) ? std::string::npos : spec.rfind(':', c2 - 1);
  const std::string name = c1 == std::string::npos ? "" : spec.substr(0, c1);
  const std::string count = c1 == std::string::npos ? "" : spec.substr(c1 + 1, c2 - c1 - 1);
  const std::string phase = c2 == std::string::npos ? "" : spec.substr(c2 + 1);
  const int wanted = phase == "partial"   ? kPartial
                     : phase == "synced"  ? kSynced
                     : phase == "renamed" ? kRenamed
                                          : kNoStall;
  if (name.empty() || !all_digits(count) || count.size() > 9 || std::stoll(count) < 1 ||
      wanted == kNoStall) {
    throw std::invalid_argument(std::string(kStallVariable) + "='" + spec +
                                "' is not <file name>:<n>:<partial|synced|renamed>; fix or unset "
                                "it (it is for crash tests only)");
  }
  const size_t slash = path.find_last_of('/');
  if (path.substr(slash == std::string::npos ? 0 : slash + 1) != name) return kNoStall;
  return g_stall_matches.fetch_add(1) + 1 == std::stoll(count) ? wanted : kNoStall;
}

[[noreturn]] void stall(const std::string& path, const char* phase) {
  // write(2), not std::cerr: nothing may sit in a buffer while the test waits for this line.
  const std::string line = std::string(kStallVariable) + ": stalled writing " + path + " (" +
                           phase + "), waiting to be killed\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  for (;;) ::pause();
}

}  // namespace

std::string write_failure_advice(int err) {
  if (err == EFBIG) return "the file-size limit (ulimit -f) is too small for it; raise the limit";
  if (err == ENOSPC) return "the disk is full; free some space";
  if (err == EDQUOT) return "the disk quota is exhausted; free some space";
  return "check free disk space";
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty() || path_.back() == '/') {
    throw std::invalid_argument("AtomicFile: '" + path_ +
                                "' is not a file path; pass a path that names a file");
  }
  const std::string folder = folder_of(path_);
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw std::runtime_error(path_ + ": folder '" + folder +
                             "' does not exist; create it before writing");
  }
  temp_path_ = path_ + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
               std::to_string(g_temp_counter.fetch_add(1));
  stall_phase_ = stall_phase_for(path_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_path_.c_str());  // may not exist yet; errors do not matter here
}

void AtomicFile::commit() {
  if (committed_) throw std::logic_error("AtomicFile::commit: " + path_ + " already committed");
  const int fd = ::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(path_ + ": cannot open temp file '" + temp_path_ + "' to commit it (" +
                             errno_text() + "); was anything written?");
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw std::runtime_error(path_ + ": fsync failed (" + std::strerror(err) + "); " +
                             write_failure_advice(err));
  }
  ::close(fd);
  if (stall_phase_ == kSynced) stall(path_, "synced");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp_path_.c_str());
    throw std::runtime_error(path_ + ": cannot rename temp file over it (" + why +
                             "); check that the path is not a folder and is writable");
  }
  committed_ = true;
  if (stall_phase_ == kRenamed) stall(path_, "renamed");
  // Make the rename itself durable. Some file systems refuse fsync on folders (EINVAL); the data
  // is already safe then, so that is not an error.
  const int dir_fd = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_file_atomic(const std::string& path, const void* data, size_t bytes) {
  AtomicFile file(path);
  const int fd = ::open(file.temp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw std::runtime_error(path + ": cannot create '" + file.temp_path() + "' (" + errno_text() +
                             "); check that the folder is writable");
  }
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  const auto write_up_to = [&](size_t end) {
    while (done < end) {
      const ssize_t n = ::write(fd, p + done, end - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(path + ": write failed after " + std::to_string(done) + " of " +
                                 std::to_string(bytes) + " bytes (" + std::strerror(err) + "); " +
                                 write_failure_advice(err));
      }
      done += static_cast<size_t>(n);
    }
  };
  if (file.stall_phase_ == kPartial) {
    write_up_to(bytes / 2);
    stall(path, "partial");
  }
  write_up_to(bytes);
  if (::close(fd) != 0) {
    const int err = errno;
    throw std::runtime_error(path + ": close failed (" + std::strerror(err) + "); " +
                             write_failure_advice(err));
  }
  file.commit();
}

bool is_temp_file_of(const std::string& file_name, const std::string& target_name) {
  const std::string prefix = target_name + ".tmp.";
  if (target_name.empty() || file_name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string rest = file_name.substr(prefix.size());
  const size_t dot = rest.find('.');
  return dot != std::string::npos && all_digits(rest.substr(0, dot)) &&
         all_digits(rest.substr(dot + 1));
}

std::vector<std::string> remove_stale_temp_files(const std::string& folder,
                                                 const std::vector<std::string>& target_names) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) {
    throw std::runtime_error(folder + ": cannot list the folder (" + ec.message() +
                             ") to remove temp files of interrupted writes; check its permissions");
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    for (const std::string& target : target_names) {
      if (!is_temp_file_of(name, target)) continue;
      const std::string path = entry.path().string();
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw std::runtime_error(path + ": cannot remove this temp file of an interrupted write (" +
                                 errno_text() + "); remove it by hand");
      }
      removed.push_back(path);
      break;
    }
  }
  return removed;
}

}  // namespace unet::io
