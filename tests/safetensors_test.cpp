// decode_safetensors on hostile headers (inputs the fuzzer in fuzz/safetensors_fuzz.cpp runs
// into): every one is refused with a message naming the file, never accepted as a tensor whose
// shape disagrees with its bytes. The regression inputs are in fuzz/regressions/safetensors/.
#include "engine/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/testing/testing.h"

namespace {

// An 8-byte little-endian header length, the JSON header, then the data bytes.
std::string file_with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json + data;
}

TEST(Safetensors, RoundTripKeepsNamesShapesAndBytes) {
  unet::Tensor t = unet::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const std::string bytes = unet::encode_safetensors({{"w", t}}, {{"k", "v"}});
  const unet::SafetensorsContents c = unet::decode_safetensors(bytes, "a.safetensors");
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].name, "w");
  EXPECT_EQ(c.get("w").shape(), (unet::Shape{2, 3}));
  EXPECT_EQ(c.get("w").data<float>()[5], 6.0f);
  EXPECT_EQ(c.metadata.at("k"), "v");
}

TEST(Safetensors, RefusesAnEmptyTensorName) {
  // encode_safetensors refuses "" as a name, so a file holding one could not be written back.
  const std::string bytes = file_with_header(
      R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  unet::testing::expect_runtime_error([&] { unet::decode_safetensors(bytes, "e.safetensors"); },
                                      "e.safetensors: a tensor has an empty name");
}

TEST(Safetensors, RefusesAShapeWhoseElementCountOverflows) {
  // 2^32 * 2^32 elements: shape_numel would overflow int64 (undefined behaviour under UBSan).
  const std::string bytes = file_with_header(
      R"({"x":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "");
  unet::testing::expect_runtime_error([&] { unet::decode_safetensors(bytes, "o.safetensors"); },
                                      "o.safetensors: tensor 'x' shape");
}

TEST(Safetensors, RefusesAShapeWhoseByteCountWrapsToTheDataSize) {
  // (2^62 + 1) F32 elements are 2^64 + 4 bytes, which wraps to 4 in 64 bits: before the fix this
  // was accepted as a tensor of 2^62 + 1 elements over 4 bytes of storage.
  const std::string bytes = file_with_header(
      R"({"x":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}})",
      std::string(4, '\0'));
  const std::string message =
      unet::testing::error_message([&] { unet::decode_safetensors(bytes, "w.safetensors"); });
  EXPECT_NE(message.find("w.safetensors: tensor 'x' shape [4611686018427387905] has more bytes"),
            std::string::npos)
      << message;
}

}  // namespace
