// Fuzzes unet::decode_safetensors, the parser under every checkpoint read (workflow's
// read_checkpoint reads the file into memory and hands the bytes here). Accepted files must be
// consistent and must survive a round trip through encode_safetensors unchanged.
#include <cstring>
#include <exception>
#include <string>

#include "engine/safetensors.h"
#include "fuzz/fuzz_support.h"

namespace {

bool same_tensor(const unet::Tensor& a, const unet::Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  unet::SafetensorsContents c;
  try {
    c = unet::decode_safetensors(bytes, "fuzz.safetensors");
  } catch (const std::exception& e) {
    unet::fuzz::note_refused(e);
    return 0;
  }
  unet::fuzz::note_accepted();
  // Each tensor's byte count is its element count times the element size without wrapping
  // around, and all of them together fit in the file.
  size_t total = 0;
  for (const unet::NamedTensor& t : c.tensors) {
    size_t bytes = 0;
    FUZZ_CHECK(!__builtin_mul_overflow(static_cast<size_t>(t.tensor.numel()),
                                       unet::dtype_size(t.tensor.dtype()), &bytes));
    FUZZ_CHECK(bytes == t.tensor.nbytes());
    FUZZ_CHECK(!__builtin_add_overflow(total, bytes, &total));
    FUZZ_CHECK(c.has(t.name));
  }
  FUZZ_CHECK(total <= size);
  // Whatever we accept we can write back, and reading that back gives the same contents.
  const std::string again = unet::encode_safetensors(c.tensors, c.metadata);
  const unet::SafetensorsContents d = unet::decode_safetensors(again, "round trip");
  FUZZ_CHECK(d.metadata == c.metadata);
  FUZZ_CHECK(d.tensors.size() == c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    FUZZ_CHECK(d.tensors[i].name == c.tensors[i].name);
    FUZZ_CHECK(same_tensor(d.tensors[i].tensor, c.tensors[i].tensor));
  }
  return 0;
}
