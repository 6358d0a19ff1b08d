// Uploads: the bytes decide what a file is (gzip magic, NIfTI sizeof_hdr), never the client's file
// name; niftilib reads from a path, so the bytes go to a private temp file that the server names
// and removes. Errors carry read_nifti's own messages (what unet_predict prints) with the temp
// path replaced by the upload's display name.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "apps/unet_serve/serve_app.h"

namespace unet::apps::serve {
namespace {

constexpr int kNifti1HeaderBytes = 348, kNifti2HeaderBytes = 540;

std::string errno_text() { return std::strerror(errno); }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// The first `want` bytes of a gzip stream (fewer when it ends or is corrupt early).
std::string inflate_prefix(const std::string& gz, size_t want) {
  std::string out(want, '\0');
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return {};  // 16: gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(gz.size(), 1u << 30));
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(want);
  while (z.avail_out > 0) {
    const int rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK) break;  // Z_STREAM_END, an error, or no progress possible
  }
  out.resize(want - z.avail_out);
  inflateEnd(&z);
  return out;
}

int32_t read_i32(const std::string& b, bool swap) {
  uint32_t v = 0;
  std::memcpy(&v, b.data(), 4);
  if (swap) v = __builtin_bswap32(v);
  return static_cast<int32_t>(v);
}

}  // namespace

TempDir::TempDir(const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* env = std::getenv("TMPDIR");
    base = env && *env ? env : "/tmp";
  }
  std::string tmpl = base + "/unet_serve.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("unet_serve: cannot create a temp folder in " + base + " (" +
                             errno_text() + "); pass a writable --tmp-dir");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::make_file(const std::string& stem, const std::string& suffix) const {
  std::string tmpl = path_ + "/" + stem + "XXXXXX" + suffix;
  const int fd = ::mkstemps(tmpl.data(), static_cast<int>(suffix.size()));
  if (fd < 0) {
    throw std::runtime_error("unet_serve: cannot create a temp file in " + path_ + " (" +
                             errno_text() + "); check free space");
  }
  ::close(fd);
  return tmpl;
}

TempFile::~TempFile() { ::unlink(path_.c_str()); }

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot be read back (" + errno_text() + ")");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string display_name(const std::string& client_name) {
  std::string base = client_name;
  const size_t slash = base.find_last_of("/\\");
  if (slash != std::string::npos) base = base.substr(slash + 1);
  std::string out;
  for (char c : base) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (ok && out.size() < 64) out += c;
  }
  // Leading dots would make hidden or relative-looking names in a download dialog.
  while (!out.empty() && out[0] == '.') out.erase(0, 1);
  return out.empty() ? "upload.nii.gz" : out;
}

UploadKind sniff_nifti(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) {
    throw std::invalid_argument(name + ": the upload is empty; send the bytes of a .nii or " +
                                ".nii.gz CT volume");
  }
  const bool gz = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
                  static_cast<unsigned char>(bytes[1]) == 0x8b;
  const std::string head = gz ? inflate_prefix(bytes, 4) : bytes.substr(0, 4);
  bool nifti = false;
  if (head.size() == 4) {
    for (bool swap : {false, true}) {
      const int32_t n = read_i32(head, swap);
      nifti = nifti || n == kNifti1HeaderBytes || n == kNifti2HeaderBytes;
    }
  }
  if (!nifti) {
    throw std::invalid_argument(
        name + ": not a NIfTI-1/NIfTI-2 volume (" +
        (gz ? "gzip data without a NIfTI header inside" : "no NIfTI header at the start") +
        "); upload a .nii or .nii.gz CT volume");
  }
  return gz ? UploadKind::kGzipNifti : UploadKind::kNifti;
}

io::NiftiVolume read_upload(const std::string& bytes, const std::string& name, const TempDir& tmp,
                            const workflow::Preprocess& preprocess) {
  const UploadKind kind = sniff_nifti(bytes, name);
  io::NiftiVolume volume;
  {
    // niftilib picks compression by extension, so the extension follows the content.
    TempFile file(tmp, "upload-", kind == UploadKind::kGzipNifti ? ".nii.gz" : ".nii");
    {
      std::ofstream out(file.path(), std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) {
        throw std::runtime_error("unet_serve: cannot write the upload to " + tmp.path() +
                                 "; check free space in --tmp-dir");
      }
    }
    try {
      volume = io::read_nifti(file.path());
    } catch (const std::exception& e) {
      std::string message = e.what();
      replace_all(message, file.path(), name);
      throw std::invalid_argument(message);
    }
  }  // the temp file is gone here, before any inference
  volume.path = name;
  workflow::check_mappable(preprocess, volume.geometry.nx, volume.geometry.ny, name);
  return volume;
}

}  // namespace unet::apps::serve
