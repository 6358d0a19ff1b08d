// Slice cache files: manifest JSON (nlohmann::json), images.npy, masks.npy. Every read is checked
// against the manifest so a stale or mixed-up cache fails loudly instead of training on garbage.
#include "io/slice_cache.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/orientation.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace unet::io {
namespace {

const char* kRerun = "rerun unet_prepare to rebuild the cache";

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what + "; " + kRerun);
}

uint32_t parse_crc(const std::string& text, const std::string& where) {
  if (text.size() != 8 || text.find_first_not_of("0123456789abcdef") != std::string::npos) {
    fail(where, "checksum '" + text + "' is not 8 lowercase hex digits");
  }
  return static_cast<uint32_t>(std::stoul(text, nullptr, 16));
}

const json& field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail(where, std::string("manifest has no '") + key + "'");
  return j.at(key);
}

// One JSON value as T, checked before it is converted: an integer field must hold an integer in
// T's range and a floating-point field a finite number T can hold (nlohmann's own conversions of
// 1e30 to int or 1e300 to float are undefined behaviour, found by fuzz/manifest_fuzz.cpp).
template <class T>
T as(const json& v, const char* key, const std::string& where) {
  auto wrong = [&](const char* what) {
    fail(where, std::string("manifest field '") + key + "' " + what + " (" + v.dump() + ")");
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) wrong("must be true or false");
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) wrong("must be an integer");
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) wrong("is out of range");
      return static_cast<T>(u);
    }
    const int64_t i = v.get<int64_t>();
    if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      wrong("is out of range");
    }
    return static_cast<T>(i);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) wrong("must be a number");
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > double(std::numeric_limits<T>::max())) {
      wrong("is not a finite number in range");
    }
    return static_cast<T>(d);
  } else if constexpr (std::is_same_v<T, json>) {
    return v;
  } else {
    if (!v.is_string()) wrong("must be a string");
    return v.get<std::string>();
  }
}

template <class T>
T get(const json& j, const char* key, const std::string& where) {
  return as<T>(field(j, key, where), key, where);
}

// An array of T (each element checked like a scalar field).
template <class T>
std::vector<T> array_of(const json& v, const char* key, const std::string& where) {
  if (!v.is_array()) {
    fail(where, std::string("manifest field '") + key + "' must be an array (" + v.dump() + ")");
  }
  std::vector<T> out;
  out.reserve(v.size());
  for (const json& e : v) out.push_back(as<T>(e, key, where));
  return out;
}
template <class T>
std::vector<T> get_array(const json& j, const char* key, const std::string& where) {
  return array_of<T>(field(j, key, where), key, where);
}

// zlib's CRC-32 in chunks (its length argument is 32-bit).
uint32_t crc32_of(const void* data, size_t bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  for (size_t off = 0; off < bytes;) {
    const uInt len = static_cast<uInt>(std::min<size_t>(bytes - off, 1u << 30));
    crc = crc32(crc, p + off, len);
    off += len;
  }
  return static_cast<uint32_t>(crc);
}

std::string crc_text(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

// The manifest's own checksum covers its canonical dump without the "integrity" member (nlohmann's
// objects are key-sorted and its numbers round-trip, so parse + dump reproduces the text hashed).
std::string manifest_crc(json j) {
  j.erase("integrity");
  const std::string text = j.dump(1);
  return crc_text(crc32_of(text.data(), text.size()));
}

json matrix_json(const double m[4][4]) {
  json rows = json::array();
  for (int r = 0; r < 4; ++r) rows.push_back({m[r][0], m[r][1], m[r][2], m[r][3]});
  return rows;
}

}  // namespace

void index_volumes(SliceCacheManifest& manifest) {
  manifest.volume_of_slice.clear();
  for (size_t v = 0; v < manifest.volumes.size(); ++v) {
    manifest.volumes[v].first = static_cast<int64_t>(manifest.volume_of_slice.size());
    manifest.volume_of_slice.insert(manifest.volume_of_slice.end(),
                                    manifest.volumes[v].slices.size(), static_cast<int32_t>(v));
  }
}

std::string manifest_to_json(const SliceCacheManifest& m) {
  json j;
  j["format"] = "unet-slice-cache";
  j["version"] = m.version;
  j["split"] = m.split;
  j["layout"] = "NHWC, C=1; slice row = j, col = i of axial slice k";
  j["height"] = m.options.height;
  j["width"] = m.options.width;
  j["resample"] = resample_name(m.options.resample);
  j["window"] = {{"enabled", m.options.window.enabled},
                 {"lo", m.options.window.lo},
                 {"hi", m.options.window.hi}};
  j["keep_empty"] = m.keep_empty;
  j["normalization"] = {{"mean", m.norm.mean}, {"std", m.norm.std}, {"from", "train"}};
  j["num_slices"] = m.num_slices();
  json vols = json::array();
  for (const auto& v : m.volumes) {
    vols.push_back({{"name", v.name},
                    {"image", v.image_path},
                    {"mask", v.mask_path},
                    {"nx", v.nx},
                    {"ny", v.ny},
                    {"nz", v.nz},
                    {"spacing", {v.spacing[0], v.spacing[1], v.spacing[2]}},
                    {"voxel_to_world", matrix_json(v.voxel_to_world)},
                    {"stored_axes", v.stored_axes},
                    {"first", v.first},
                    {"liver_slices", v.liver_slices},
                    {"slices", v.slices}});
  }
  j["volumes"] = vols;
  j["volume_of_slice"] = m.volume_of_slice;
  j["orientation"] = std::string(kCanonicalAxes) + ": slices are cut in this voxel order";
  j["checksums"] = {{"images.npy", crc_text(m.images_crc32)},
                    {"masks.npy", crc_text(m.masks_crc32)},
                    {"algorithm", "crc32 of the array data bytes"}};
  j["integrity"] = {{"manifest_crc32", manifest_crc(j)}};
  return j.dump(1);
}

SliceCacheManifest manifest_from_json(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, std::string("manifest is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object() || j.value("format", "") != "unet-slice-cache") {
    fail(where, "not a slice cache manifest (no \"format\": \"unet-slice-cache\")");
  }
  SliceCacheManifest m;
  m.version = get<int>(j, "version", where);
  if (m.version == 1) {
    fail(where,
         "was prepared by an older unet_prepare (cache version 1: slices cut in the stored voxel "
         "order, no checksums)");
  }
  if (m.version != kSliceCacheVersion) {
    fail(where, "manifest version " + std::to_string(m.version) + " is not supported (expected " +
                    std::to_string(kSliceCacheVersion) + ")");
  }
  const std::string stored_crc =
      get<std::string>(field(j, "integrity", where), "manifest_crc32", where);
  if (stored_crc != manifest_crc(j)) {
    fail(where, "manifest was changed after unet_prepare wrote it (its checksum " + stored_crc +
                    " does not match the content's " + manifest_crc(j) + ")");
  }
  const json& sums = field(j, "checksums", where);
  m.images_crc32 = parse_crc(get<std::string>(sums, "images.npy", where), where);
  m.masks_crc32 = parse_crc(get<std::string>(sums, "masks.npy", where), where);
  m.split = get<std::string>(j, "split", where);
  m.options.height = get<int>(j, "height", where);
  m.options.width = get<int>(j, "width", where);
  if (m.options.height <= 0 || m.options.width <= 0) fail(where, "slice size must be positive");
  try {
    m.options.resample = parse_resample(get<std::string>(j, "resample", where));
  } catch (const std::invalid_argument& e) {
    fail(where, e.what());
  }
  const json& w = field(j, "window", where);
  m.options.window.enabled = get<bool>(w, "enabled", where);
  m.options.window.lo = get<float>(w, "lo", where);
  m.options.window.hi = get<float>(w, "hi", where);
  m.keep_empty = get<bool>(j, "keep_empty", where);
  const json& n = field(j, "normalization", where);
  m.norm.mean = get<double>(n, "mean", where);
  m.norm.std = get<double>(n, "std", where);
  if (!std::isfinite(m.norm.mean) || !(m.norm.std > 0) || !std::isfinite(m.norm.std)) {
    fail(where, "normalization stats must be finite with std > 0");
  }
  const json& vols = field(j, "volumes", where);
  if (!vols.is_array()) fail(where, "manifest field 'volumes' is not an array");
  for (const json& jv : vols) {
    CacheVolume v;
    v.name = get<std::string>(jv, "name", where);
    v.image_path = get<std::string>(jv, "image", where);
    v.mask_path = get<std::string>(jv, "mask", where);
    v.nx = get<int64_t>(jv, "nx", where);
    v.ny = get<int64_t>(jv, "ny", where);
    v.nz = get<int64_t>(jv, "nz", where);
    if (v.nx <= 0 || v.ny <= 0 || v.nz <= 0) fail(where, "volume '" + v.name + "' has a bad grid");
    const auto sp = get_array<double>(jv, "spacing", where);
    std::vector<std::vector<double>> a;
    for (const json& row :
         array_of<json>(field(jv, "voxel_to_world", where), "voxel_to_world", where)) {
      a.push_back(array_of<double>(row, "voxel_to_world", where));
    }
    if (sp.size() != 3 || a.size() != 4) fail(where, "volume '" + v.name + "' spacing/affine size");
    for (int i = 0; i < 3; ++i) v.spacing[i] = sp[i];
    for (int r = 0; r < 4; ++r) {
      if (a[r].size() != 4) fail(where, "volume '" + v.name + "' voxel_to_world is not 4x4");
      for (int c = 0; c < 4; ++c) v.voxel_to_world[r][c] = a[r][c];
    }
    v.stored_axes = get<std::string>(jv, "stored_axes", where);
    try {
      map_to_canonical(v.stored_axes);
    } catch (const std::invalid_argument& e) {
      fail(where, "volume '" + v.name + "': " + e.what());
    }
    v.first = get<int64_t>(jv, "first", where);
    v.liver_slices = get<int64_t>(jv, "liver_slices", where);
    v.slices = get_array<int64_t>(jv, "slices", where);
    for (size_t s = 0; s < v.slices.size(); ++s) {
      if (v.slices[s] < 0 || v.slices[s] >= v.nz || (s && v.slices[s] <= v.slices[s - 1])) {
        fail(where, "volume '" + v.name + "' slice index " + std::to_string(v.slices[s]) +
                        " is outside [0, nz = " + std::to_string(v.nz) + ") or not ascending");
      }
    }
    m.volumes.push_back(std::move(v));
  }
  m.volume_of_slice = get_array<int32_t>(j, "volume_of_slice", where);
  SliceCacheManifest check = m;
  index_volumes(check);
  if (check.volume_of_slice != m.volume_of_slice) {
    fail(where, "volume_of_slice does not match the volumes' slice lists");
  }
  for (size_t v = 0; v < m.volumes.size(); ++v) {
    if (check.volumes[v].first != m.volumes[v].first) {
      fail(where, "volume '" + m.volumes[v].name +
                      "' has first = " + std::to_string(m.volumes[v].first) + ", expected " +
                      std::to_string(check.volumes[v].first));
    }
  }
  if (get<int64_t>(j, "num_slices", where) != m.num_slices()) {
    fail(where, "num_slices does not match volume_of_slice (" + std::to_string(m.num_slices()) +
                    " entries)");
  }
  return m;
}

void write_slice_cache(const std::string& dir, const SliceCacheManifest& manifest,
                       const std::vector<float>& images, const std::vector<uint8_t>& masks) {
  const int64_t s = manifest.num_slices(), h = manifest.options.height, w = manifest.options.width;
  const size_t n = static_cast<size_t>(s * h * w);
  if (images.size() != n || masks.size() != n) {
    throw std::invalid_argument("write_slice_cache: " + dir + ": manifest says " +
                                std::to_string(s) + " slices of " + std::to_string(h) + "x" +
                                std::to_string(w) + " (" + std::to_string(n) + " values) but got " +
                                std::to_string(images.size()) + " image and " +
                                std::to_string(masks.size()) + " mask values");
  }
  fs::create_directories(dir);
  const std::vector<int64_t> shape = {s, h, w, 1};
  write_npy((fs::path(dir) / "images.npy").string(), images.data(), shape);
  write_npy((fs::path(dir) / "masks.npy").string(), masks.data(), shape);
  SliceCacheManifest stamped = manifest;
  stamped.images_crc32 = crc32_of(images.data(), images.size() * sizeof(float));
  stamped.masks_crc32 = crc32_of(masks.data(), masks.size());
  const std::string text = manifest_to_json(stamped) + "\n";
  // The manifest goes last: a folder with a manifest has complete arrays beside it.
  write_file_atomic((fs::path(dir) / "manifest.json").string(), text.data(), text.size());
}

SliceCacheManifest read_slice_cache_manifest(const std::string& dir) {
  const std::string where = (fs::path(dir) / "manifest.json").string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error(dir + ": slice cache folder does not exist; run unet_prepare first");
  }
  std::ifstream in(where);
  if (!in) fail(where, "cannot read the manifest");
  std::stringstream ss;
  ss << in.rdbuf();
  return manifest_from_json(ss.str(), where);
}

SliceCache read_slice_cache(const std::string& dir) {
  SliceCache c;
  c.manifest = read_slice_cache_manifest(dir);
  const std::vector<int64_t> want = {c.num_slices(), c.height(), c.width(), 1};
  auto shape_str = [](const std::vector<int64_t>& s) {
    std::string o = "[";
    for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
    return o + "]";
  };
  const std::string ipath = (fs::path(dir) / "images.npy").string();
  const std::string mpath = (fs::path(dir) / "masks.npy").string();
  NpyArray im = read_npy(ipath);
  if (im.dtype != NpyDtype::kFloat32) fail(ipath, "images must be float32 ('<f4')");
  if (im.shape != want) {
    fail(ipath,
         "shape " + shape_str(im.shape) + " does not match the manifest's " + shape_str(want));
  }
  for (size_t i = 0; i < im.f32.size(); ++i) {
    if (!std::isfinite(im.f32[i])) {
      fail(ipath, "non-finite value at element " + std::to_string(i));
    }
  }
  if (crc32_of(im.f32.data(), im.f32.size() * sizeof(float)) != c.manifest.images_crc32) {
    fail(ipath,
         "contents changed after unet_prepare wrote them (CRC-32 differs from the "
         "manifest's)");
  }
  NpyArray mk = read_npy(mpath);
  if (mk.dtype != NpyDtype::kUint8) fail(mpath, "masks must be uint8 ('|u1')");
  if (mk.shape != want) {
    fail(mpath,
         "shape " + shape_str(mk.shape) + " does not match the manifest's " + shape_str(want));
  }
  bool has1 = false, has255 = false;
  for (size_t i = 0; i < mk.u8.size(); ++i) {
    const uint8_t v = mk.u8[i];
    has1 |= v == 1;
    has255 |= v == 255;
    if ((v != 0 && v != 1 && v != 255) || (has1 && has255)) {
      fail(mpath, "mask values must be 0/1 or 0/255, found " + std::to_string(v) +
                      (has1 && has255 ? " mixed with the other convention" : "") + " at element " +
                      std::to_string(i));
    }
  }
  // After the value checks, so a specific complaint wins over "changed".
  if (crc32_of(mk.u8.data(), mk.u8.size()) != c.manifest.masks_crc32) {
    fail(mpath,
         "contents changed after unet_prepare wrote them (CRC-32 differs from the "
         "manifest's)");
  }
  if (has255) {
    for (auto& v : mk.u8) v = v ? 1 : 0;
  }
  c.images = std::move(im.f32);
  c.masks = std::move(mk.u8);
  return c;
}

}  // namespace unet::io
