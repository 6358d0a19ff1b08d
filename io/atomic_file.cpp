// AtomicFile: temp file in the target's folder, fsync, rename, fsync the folder.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
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

}  // namespace

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
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw std::runtime_error(path_ + ": fsync failed (" + why + "); check the disk");
  }
  ::close(fd);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp_path_.c_str());
    throw std::runtime_error(path_ + ": cannot rename temp file over it (" + why +
                             "); check that the path is not a folder and is writable");
  }
  committed_ = true;
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
  size_t left = bytes;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      throw std::runtime_error(path + ": write failed after " + std::to_string(bytes - left) +
                               " of " + std::to_string(bytes) + " bytes (" + why +
                               "); check free disk space");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    throw std::runtime_error(path + ": close failed (" + errno_text() + "); check free disk space");
  }
  file.commit();
}

}  // namespace unet::io
