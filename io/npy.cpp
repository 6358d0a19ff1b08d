// .npy reading and writing. The header is a Python dict literal; we write exactly numpy's form and
// parse only the three keys numpy itself requires, rejecting anything we could misread
// (big-endian, Fortran order, other dtypes) instead of guessing.
#include "io/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "io/atomic_file.h"

namespace unet::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

size_t shape_count(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

void write_npy_bytes(const std::string& path, NpyDtype dtype, const void* data,
                     const std::vector<int64_t>& shape) {
  for (int64_t d : shape) {
    if (d < 0) {
      throw std::invalid_argument("write_npy: " + path + ": negative dimension in shape " +
                                  shape_string(shape) + "; pass a valid shape");
    }
  }
  const size_t bytes = shape_count(shape) * npy_item_size(dtype);
  if (bytes > 0 && data == nullptr) {
    throw std::invalid_argument("write_npy: " + path + ": null data for shape " +
                                shape_string(shape));
  }
  const std::string header = make_npy_header(dtype, shape);
  AtomicFile file(path);
  FILE* f = std::fopen(file.temp_path().c_str(), "wb");
  if (!f)
    fail(path, "cannot open temporary file for writing; check the folder exists and is writable");
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  if (ok && bytes > 0) ok = std::fwrite(data, 1, bytes, f) == bytes;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) fail(path, "write failed (disk full?); free space and retry");
  file.commit();
}

// Skips spaces; returns the position of the value after "'key':".
size_t find_key(const std::string& h, const std::string& key, const std::string& path) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos) p = h.find("\"" + key + "\"");
  if (p == std::string::npos) {
    fail(path, "npy header has no '" + key + "' entry (header: " + h +
                   "); the file is not a valid .npy file");
  }
  p += key.size() + 2;
  while (p < h.size() && (h[p] == ' ' || h[p] == ':')) ++p;
  return p;
}

NpyDtype parse_descr(const std::string& h, const std::string& path) {
  size_t p = find_key(h, "descr", path);
  if (p >= h.size() || (h[p] != '\'' && h[p] != '"'))
    fail(path, "npy header 'descr' is not a string");
  const char q = h[p];
  const size_t e = h.find(q, p + 1);
  if (e == std::string::npos) fail(path, "npy header 'descr' string is not terminated");
  const std::string d = h.substr(p + 1, e - p - 1);
  if (d == "<f4") return NpyDtype::kFloat32;
  if (d == "|u1" || d == "<u1" || d == "u1") return NpyDtype::kUint8;
  if (d == "<i2") return NpyDtype::kInt16;
  fail(path, "unsupported npy dtype '" + d +
                 "'; expected little-endian '<f4', '|u1' or '<i2' (convert with numpy astype)");
}

std::vector<int64_t> parse_shape(const std::string& h, const std::string& path) {
  size_t p = find_key(h, "shape", path);
  if (p >= h.size() || h[p] != '(') fail(path, "npy header 'shape' is not a tuple");
  const size_t e = h.find(')', p);
  if (e == std::string::npos) fail(path, "npy header 'shape' tuple is not terminated");
  std::vector<int64_t> shape;
  size_t i = p + 1;
  while (i < e) {
    while (i < e && (h[i] == ' ' || h[i] == ',')) ++i;
    if (i >= e) break;
    if (h[i] < '0' || h[i] > '9') {
      fail(path, "npy header 'shape' has a non-integer entry: " + h.substr(p, e - p + 1));
    }
    int64_t v = 0;
    while (i < e && h[i] >= '0' && h[i] <= '9') {
      v = v * 10 + (h[i] - '0');
      if (v > (int64_t{1} << 48)) fail(path, "npy header 'shape' dimension is implausibly large");
      ++i;
    }
    while (i < e && (h[i] == 'L' || h[i] == ' ')) ++i;  // Python 2 wrote 3L
    shape.push_back(v);
  }
  return shape;
}

}  // namespace

const char* npy_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return "<f4";
    case NpyDtype::kUint8:
      return "|u1";
    case NpyDtype::kInt16:
      return "<i2";
  }
  return "?";
}

size_t npy_item_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return 4;
    case NpyDtype::kUint8:
      return 1;
    case NpyDtype::kInt16:
      return 2;
  }
  return 0;
}

size_t NpyHeader::count() const { return shape_count(shape); }
size_t NpyArray::count() const { return shape_count(shape); }

std::string make_npy_header(NpyDtype dtype, const std::vector<int64_t>& shape) {
  std::string dict = std::string("{'descr': '") + npy_descr(dtype) +
                     "', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // numpy pads with spaces and ends with '\n' so that magic+version+len+dict is a multiple of 64.
  const size_t prefix = kMagicLen + 2 + 2;
  size_t total = prefix + dict.size() + 1;
  const size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  const uint16_t len = static_cast<uint16_t>(dict.size());
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(len >> 8));
  return out + dict;
}

void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  write_npy_bytes(path, NpyDtype::kFloat32, data, shape);
}
void write_npy(const std::string& path, const uint8_t* data, const std::vector<int64_t>& shape) {
  write_npy_bytes(path, NpyDtype::kUint8, data, shape);
}
void write_npy(const std::string& path, const int16_t* data, const std::vector<int64_t>& shape) {
  write_npy_bytes(path, NpyDtype::kInt16, data, shape);
}

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open .npy file; check the path exists and is readable");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  unsigned char pre[12] = {};
  if (file_size < 10 || !in.read(reinterpret_cast<char*>(pre), 10)) {
    fail(path, "file too short for a .npy header (" + std::to_string(file_size) +
                   " bytes); the file is truncated or not a .npy file");
  }
  if (std::memcmp(pre, kMagic, kMagicLen) != 0) {
    fail(path, "bad magic (not a .npy file); write it with numpy.save or unet_prepare");
  }
  const int major = pre[6], minor = pre[7];
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = pre[8] | (size_t{pre[9]} << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (!in.read(reinterpret_cast<char*>(pre + 10), 2)) fail(path, "truncated .npy v2 header");
    header_len = pre[8] | (size_t{pre[9]} << 8) | (size_t{pre[10]} << 16) | (size_t{pre[11]} << 24);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + "; expected 1.0, 2.0 or 3.0");
  }
  if (prefix + header_len > file_size) {
    fail(path, "npy header length " + std::to_string(header_len) +
                   " runs past the end of the file; the file is truncated");
  }
  std::string h(header_len, '\0');
  in.read(h.data(), static_cast<std::streamsize>(header_len));
  NpyHeader out;
  out.dtype = parse_descr(h, path);
  const size_t fo = find_key(h, "fortran_order", path);
  if (h.compare(fo, 4, "True") == 0) {
    fail(path,
         "fortran_order True is not supported; save a C-ordered array (numpy.ascontiguousarray)");
  }
  if (h.compare(fo, 5, "False") != 0) fail(path, "npy header 'fortran_order' is not True/False");
  out.shape = parse_shape(h, path);
  out.data_offset = prefix + header_len;
  // numpy's own rule (it refuses to create such arrays): the nonzero dimensions times the item
  // size must fit in 64 bits. Checked before the size comparison below, where a product that
  // wrapped around (say shape (2**32, 2**32)) could match a short file and describe far more
  // elements than it holds.
  size_t want = npy_item_size(out.dtype);
  bool empty = false;
  for (int64_t d : out.shape) {
    if (d == 0) {
      empty = true;
    } else if (__builtin_mul_overflow(want, static_cast<size_t>(d), &want)) {
      fail(path, "shape " + shape_string(out.shape) +
                     " has more bytes than fit in 64 bits; the header is corrupt (rewrite the file "
                     "with numpy.save or unet_prepare)");
    }
  }
  if (empty) want = 0;
  const size_t have = file_size - out.data_offset;
  if (have != want) {
    fail(path, "data size " + std::to_string(have) + " bytes does not match shape " +
                   shape_string(out.shape) + " of " + npy_descr(out.dtype) + " (" +
                   std::to_string(want) + " bytes); the file is truncated or corrupt");
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  const NpyHeader h = read_npy_header(path);
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  const size_t n = h.count();
  char* dst = nullptr;
  switch (h.dtype) {
    case NpyDtype::kFloat32:
      a.f32.resize(n);
      dst = reinterpret_cast<char*>(a.f32.data());
      break;
    case NpyDtype::kUint8:
      a.u8.resize(n);
      dst = reinterpret_cast<char*>(a.u8.data());
      break;
    case NpyDtype::kInt16:
      a.i16.resize(n);
      dst = reinterpret_cast<char*>(a.i16.data());
      break;
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(h.data_offset));
  const auto bytes = static_cast<std::streamsize>(n * npy_item_size(h.dtype));
  if (bytes > 0 && !in.read(dst, bytes)) fail(path, "read failed while loading the array data");
  return a;
}

}  // namespace unet::io
