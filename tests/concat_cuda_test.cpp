// concat CUDA tests: both variants against the CPU reference, bitwise (pure copies), on awkward
// shapes and with misaligned pointers (v2 must fall back to scalar code), outputs poisoned first.

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/concat/concat.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/kernel_shapes.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::bitwise_equal;
using unet::testing::DeviceBuffer;
using unet::testing::random_floats;

using unet::testing::concat_shape;

std::vector<float> padded(int offset, const std::vector<float>& v) {
  std::vector<float> out(offset, 0.0f);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

std::vector<float> unpadded(int offset, const std::vector<float>& v) {
  return std::vector<float>(v.begin() + offset, v.end());
}

TEST(ConcatCuda, AllVariantsMatchReference) {
  UNET_REQUIRE_CUDA();
  uint64_t seed = 10;
  for (ConcatVariant v : {ConcatVariant::kV1Naive, ConcatVariant::kV2Vectorized}) {
    for (const ConcatShape& s :
         {concat_shape(1, 1, 1), concat_shape(7, 3, 5), concat_shape(6, 32, 32),
          concat_shape(13, 4, 1), concat_shape(9, 4, 8), concat_shape(65536, 32, 32),
          concat_shape(100003, 1, 2)}) {
      for (int offset : {0, 1}) {
        SCOPED_TRACE(std::string(kConcatVariants.name(v)) + " pixels=" + std::to_string(s.pixels) +
                     " C1=" + std::to_string(s.C1) + " C2=" + std::to_string(s.C2) +
                     " offset=" + std::to_string(offset));
        const int C = s.C1 + s.C2;
        const auto a = random_floats(s.pixels * s.C1, seed++);
        const auto b = random_floats(s.pixels * s.C2, seed++);
        const auto dy = random_floats(s.pixels * C, seed++);
        std::vector<float> y_ref(s.pixels * C), da_ref(a.size()), db_ref(b.size());
        concat_forward_ref(s, a.data(), b.data(), y_ref.data());
        concat_backward_ref(s, dy.data(), da_ref.data(), db_ref.data());

        DeviceBuffer<float> a_d(padded(offset, a)), b_d(padded(offset, b)),
            dy_d(padded(offset, dy));
        DeviceBuffer<float> y_d(y_ref.size() + offset), da_d(a.size() + offset),
            db_d(b.size() + offset);
        y_d.poison();
        da_d.poison();
        db_d.poison();
        concat_forward_cuda(v, s, a_d.get() + offset, b_d.get() + offset, y_d.get() + offset,
                            nullptr);
        concat_backward_cuda(v, s, dy_d.get() + offset, da_d.get() + offset, db_d.get() + offset,
                             nullptr);
        EXPECT_TRUE(bitwise_equal(unpadded(offset, y_d.to_host()), y_ref, "y"));
        EXPECT_TRUE(bitwise_equal(unpadded(offset, da_d.to_host()), da_ref, "da"));
        EXPECT_TRUE(bitwise_equal(unpadded(offset, db_d.to_host()), db_ref, "db"));
      }
    }
  }
}

TEST(ConcatCuda, VariantNamesAndUnknownVariantRejected) {
  EXPECT_STREQ(kConcatVariants.name(ConcatVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kConcatVariants.name(ConcatVariant::kV2Vectorized), "v2_vectorized");
  UNET_REQUIRE_CUDA();
  DeviceBuffer<float> buf(16);
  try {
    concat_forward_cuda(static_cast<ConcatVariant>(3), concat_shape(2, 1, 1), buf.get(), buf.get(),
                        buf.get(), nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("concat_forward_cuda: unknown variant 3"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace unet::kernels
