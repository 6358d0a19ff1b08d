#include "fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace unet::fuzz {
namespace {

// Owns the folder; its destructor runs at normal exit (libFuzzer returns from main after -runs).
class ScratchDir {
 public:
  ScratchDir() {
    std::string base;
    const char* env = std::getenv("TMPDIR");
    if (env && *env) {
      base = env;
    } else if (::access("/dev/shm", W_OK) == 0) {
      base = "/dev/shm";  // memory-backed: a file write per execution costs no disk I/O
    } else {
      base = "/tmp";
    }
    std::string tmpl = base + "/unet_fuzz.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror(("unet fuzz: mkdtemp in " + base).c_str());
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

const std::string& scratch_dir() {
  static ScratchDir dir;
  return dir.path();
}

std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  bool ok = f != nullptr;
  if (ok && size > 0) ok = std::fwrite(data, 1, size, f) == size;
  if (f) ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::perror(("unet fuzz: cannot write " + path).c_str());
    std::abort();
  }
  return path;
}

namespace {
bool verbose() {
  static const bool on = [] {
    const char* env = std::getenv("UNET_FUZZ_VERBOSE");
    return env && *env && *env != '0';
  }();
  return on;
}
}  // namespace

void note_refused(const std::exception& e) {
  if (verbose()) std::fprintf(stderr, "refused: %s\n", e.what());
}

void note_accepted() {
  if (verbose()) std::fprintf(stderr, "accepted\n");
}

void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace unet::fuzz
