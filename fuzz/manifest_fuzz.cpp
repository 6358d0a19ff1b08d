// Fuzzes unet::io::manifest_from_json, the slice cache's manifest.json parser (in memory; the file
// read around it is a plain ifstream). Accepted manifests must be internally consistent and must
// survive a round trip through manifest_to_json.
//
// Version-2 manifests carry a CRC-32 of their own canonical text, so almost every mutation stops at
// that check. Each input is therefore parsed twice: as it is (the JSON parser and the checksum
// gate), and, when it is a JSON object, once more with its checksum repaired the way
// manifest_to_json computes it, so the fuzzer also reaches the field checks behind the gate.
#include <zlib.h>

#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz_support.h"
#include "io/slice_cache.h"

namespace {

void check_consistent(const unet::io::SliceCacheManifest& m) {
  FUZZ_CHECK(m.options.height > 0 && m.options.width > 0);
  int64_t first = 0;
  for (size_t v = 0; v < m.volumes.size(); ++v) {
    const unet::io::CacheVolume& cv = m.volumes[v];
    FUZZ_CHECK(cv.nx > 0 && cv.ny > 0 && cv.nz > 0);
    FUZZ_CHECK(cv.first == first);
    for (size_t s = 0; s < cv.slices.size(); ++s) {
      FUZZ_CHECK(cv.slices[s] >= 0 && cv.slices[s] < cv.nz);
      FUZZ_CHECK(s == 0 || cv.slices[s] > cv.slices[s - 1]);
      // Slice first + s of the cache belongs to this volume.
      FUZZ_CHECK(m.volume_of_slice.at(static_cast<size_t>(first) + s) == static_cast<int32_t>(v));
    }
    first += static_cast<int64_t>(cv.slices.size());
  }
  FUZZ_CHECK(first == m.num_slices());
}

void parse_and_check(const std::string& text) {
  unet::io::SliceCacheManifest m;
  try {
    m = unet::io::manifest_from_json(text, "manifest.json");
  } catch (const std::exception& e) {
    unet::fuzz::note_refused(e);
    return;
  }
  unet::fuzz::note_accepted();
  check_consistent(m);
  // unet_prepare writes what it reads: an accepted manifest written back must parse to the same.
  const unet::io::SliceCacheManifest again =
      unet::io::manifest_from_json(unet::io::manifest_to_json(m), "round trip");
  FUZZ_CHECK(again.num_slices() == m.num_slices());
  FUZZ_CHECK(again.volumes.size() == m.volumes.size());
  FUZZ_CHECK(again.volume_of_slice == m.volume_of_slice);
  FUZZ_CHECK(again.split == m.split && again.keep_empty == m.keep_empty);
  for (size_t v = 0; v < m.volumes.size(); ++v) {
    FUZZ_CHECK(again.volumes[v].name == m.volumes[v].name);
    FUZZ_CHECK(again.volumes[v].slices == m.volumes[v].slices);
  }
}

// The text with "integrity": {"manifest_crc32": ...} set to the CRC-32 of the canonical dump
// (dump(1), keys sorted) of everything else, as manifest_to_json writes it; "" when the text is not
// a JSON object.
std::string with_repaired_checksum(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return {};
  j.erase("integrity");
  const std::string body = j.dump(1);
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(body.data()),
                          static_cast<uInt>(body.size()));
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08lx", crc & 0xffffffffUL);
  j["integrity"] = {{"manifest_crc32", hex}};
  return j.dump(1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  parse_and_check(text);
  if (size > (1u << 20)) return 0;  // the repaired copy only doubles the work on huge inputs
  const std::string repaired = with_repaired_checksum(text);
  if (!repaired.empty() && repaired != text) parse_and_check(repaired);
  return 0;
}
