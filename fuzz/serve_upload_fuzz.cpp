// Fuzzes unet_serve's upload handling without sockets: what the POST route does with a request
// body (apps/unet_serve/upload.cpp): sniff_nifti, then read_upload (temp file, read_nifti with the
// server's default limits, removal, check_mappable against the default preprocessing: 256x256,
// stride). Also display_name on the same bytes taken as a client file name.
//
// Beyond "no crash": an accepted upload is a consistent volume, and no temp file is left behind
// whether the upload was accepted or refused.
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "apps/unet_serve/serve_app.h"
#include "fuzz/fuzz_support.h"

namespace serve = unet::apps::serve;

namespace {

bool folder_is_empty(const std::string& dir) {
  return std::filesystem::directory_iterator(dir) == std::filesystem::directory_iterator();
}

void check_display_name(const std::string& client_name) {
  const std::string shown = serve::display_name(client_name);
  FUZZ_CHECK(!shown.empty() && shown.size() <= 64 && shown[0] != '.');
  for (char c : shown) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    FUZZ_CHECK(ok);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The server's own private folder, as main() makes it, inside this process's scratch folder.
  static const serve::TempDir tmp(unet::fuzz::scratch_dir());
  static const unet::workflow::Preprocess preprocess{};
  const std::string body(reinterpret_cast<const char*>(data), size);
  check_display_name(body.substr(0, 256));

  const std::string name = "upload.nii.gz";
  bool sniffed = false;
  serve::UploadKind kind = serve::UploadKind::kNifti;
  try {
    kind = serve::sniff_nifti(body, name);
    sniffed = true;
  } catch (const std::invalid_argument&) {
    // refused by content; read_upload must refuse it the same way
  }
  unet::io::NiftiVolume v;
  bool accepted = false;
  try {
    v = serve::read_upload(body, name, tmp, preprocess);
    accepted = true;
  } catch (const std::exception& e) {
    unet::fuzz::note_refused(e);
  }
  if (accepted) unet::fuzz::note_accepted();
  FUZZ_CHECK(folder_is_empty(tmp.path()));
  if (!accepted) return 0;
  FUZZ_CHECK(sniffed);
  FUZZ_CHECK((kind == serve::UploadKind::kGzipNifti) ==
             (size >= 2 && data[0] == 0x1f && data[1] == 0x8b));
  const unet::io::NiftiGeometry& g = v.geometry;
  FUZZ_CHECK(g.nx > 0 && g.ny > 0 && g.nz > 0);
  FUZZ_CHECK(v.voxels.size() == static_cast<size_t>(g.nx * g.ny * g.nz));
  FUZZ_CHECK(v.path == name);
  return 0;
}
