// NumPy .npy files (format v1.0 written; v1.0, v2.0 and v3.0 read) for the slice caches.
// Written files are what numpy.save makes: little-endian '<f4', '|u1' or '<i2', C order,
// fortran_order False, header padded so the data starts on a 64-byte boundary. Writes are atomic
// (temp file + rename), so a crash never leaves a half-written cache file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace unet::io {

enum class NpyDtype { kFloat32, kUint8, kInt16 };

// '<f4', '|u1', '<i2'.
const char* npy_descr(NpyDtype dtype);
size_t npy_item_size(NpyDtype dtype);

struct NpyHeader {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the first element
  size_t count() const;    // product of shape (1 for a 0-d array)
};

// A whole array read into memory. Exactly one of f32 / u8 / i16 holds the data (per dtype).
struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<uint8_t> u8;
  std::vector<int16_t> i16;
  size_t count() const;
};

void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape);
void write_npy(const std::string& path, const uint8_t* data, const std::vector<int64_t>& shape);
void write_npy(const std::string& path, const int16_t* data, const std::vector<int64_t>& shape);

// Reads and validates the header only (magic, version, dtype, order, shape, file size).
// Throws std::runtime_error "<path>: <what>; <what to do>".
NpyHeader read_npy_header(const std::string& path);
// Reads the whole array after the same validation.
NpyArray read_npy(const std::string& path);

// Builds the v1.0 header bytes (magic .. trailing newline) for a dtype and shape; exposed for
// tests.
std::string make_npy_header(NpyDtype dtype, const std::vector<int64_t>& shape);

}  // namespace unet::io
