// Fuzzes unet::io::read_npy_header and read_npy (the slice caches' arrays). Both read from a path,
// so the bytes go to a scratch file. Accepted arrays must match their header and the file size.
#include <exception>
#include <string>

#include "fuzz/fuzz_support.h"
#include "io/npy.h"

namespace {

// numpy's rule for a shape: the nonzero dimensions' product times the item size fits in 64 bits
// (numpy refuses to create anything else). Sets the element count; false when the rule is broken:
// an accepted header like that describes an array no file can hold, or a wrapped-around size.
bool checked_count(const std::vector<int64_t>& shape, size_t item, size_t* count) {
  size_t bytes = item, n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d == 0) {
      empty = true;
    } else if (__builtin_mul_overflow(bytes, static_cast<size_t>(d), &bytes)) {
      return false;
    } else {
      n *= static_cast<size_t>(d);  // cannot wrap: n * item == bytes did not
    }
  }
  *count = empty ? 0 : n;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = unet::fuzz::write_scratch("in.npy", data, size);
  unet::io::NpyHeader h;
  try {
    h = unet::io::read_npy_header(path);
  } catch (const std::exception& e) {
    unet::fuzz::note_refused(e);
    return 0;
  }
  unet::fuzz::note_accepted();
  const size_t item = unet::io::npy_item_size(h.dtype);
  size_t count = 0;
  FUZZ_CHECK(checked_count(h.shape, item, &count));
  FUZZ_CHECK(count == h.count());
  FUZZ_CHECK(h.data_offset <= size && size - h.data_offset == count * item);

  // The header was accepted, so the whole read must succeed and hold exactly `count` elements of
  // the header's dtype in the one matching vector.
  const unet::io::NpyArray a = unet::io::read_npy(path);
  FUZZ_CHECK(a.dtype == h.dtype && a.shape == h.shape);
  const size_t f32 = a.dtype == unet::io::NpyDtype::kFloat32 ? count : 0;
  const size_t u8 = a.dtype == unet::io::NpyDtype::kUint8 ? count : 0;
  const size_t i16 = a.dtype == unet::io::NpyDtype::kInt16 ? count : 0;
  FUZZ_CHECK(a.f32.size() == f32 && a.u8.size() == u8 && a.i16.size() == i16);
  return 0;
}
