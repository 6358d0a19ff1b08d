// max_pool2d CUDA tests: every variant against the CPU reference on awkward shapes, bitwise
// (pooling only compares and the backward gather adds in the reference's order, so there is no
// rounding to tolerate), including misaligned pointers that force v2 onto its scalar fallback and
// a poisoned dx to catch elements the kernel forgets to write.

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/max_pool2d/max_pool2d.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/kernel_shapes.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using unet::testing::bitwise_equal;
using unet::testing::DeviceBuffer;
using unet::testing::random_floats;

using unet::testing::max_pool2d_shape;

const MaxPool2dVariant kVariants[] = {MaxPool2dVariant::kV1Naive, MaxPool2dVariant::kV2Vectorized};

// Runs forward and backward of variant v with all device pointers shifted by `offset` floats.
void check_against_ref(MaxPool2dVariant v, const MaxPool2dShape& s, int offset, uint64_t seed) {
  SCOPED_TRACE(std::string(kMaxPool2dVariants.name(v)) + " N=" + std::to_string(s.N) +
               " H=" + std::to_string(s.H) + " W=" + std::to_string(s.W) +
               " C=" + std::to_string(s.C) + " R=" + std::to_string(s.R) +
               " S=" + std::to_string(s.S) + " offset=" + std::to_string(offset));
  const auto x = random_floats(s.x_size(), seed);
  const auto dy = random_floats(s.y_size(), seed + 1);
  std::vector<float> y_ref(s.y_size()), dx_ref(s.x_size());
  max_pool2d_forward_ref(s, x.data(), y_ref.data());
  max_pool2d_backward_ref(s, x.data(), dy.data(), dx_ref.data());

  std::vector<float> xh(offset, 0.0f), dyh(offset, 0.0f);
  xh.insert(xh.end(), x.begin(), x.end());
  dyh.insert(dyh.end(), dy.begin(), dy.end());
  DeviceBuffer<float> dx_buf(xh), dy_buf(dyh), y_buf(s.y_size() + offset),
      dgrad_buf(s.x_size() + offset);
  y_buf.poison();
  dgrad_buf.poison();
  max_pool2d_forward_cuda(v, s, dx_buf.get() + offset, y_buf.get() + offset, nullptr);
  max_pool2d_backward_cuda(v, s, dx_buf.get() + offset, dy_buf.get() + offset,
                           dgrad_buf.get() + offset, nullptr);
  const auto y_all = y_buf.to_host();
  const auto dx_all = dgrad_buf.to_host();
  EXPECT_TRUE(bitwise_equal(std::vector<float>(y_all.begin() + offset, y_all.end()), y_ref, "y"));
  EXPECT_TRUE(
      bitwise_equal(std::vector<float>(dx_all.begin() + offset, dx_all.end()), dx_ref, "dx"));
}

TEST(MaxPool2dCuda, AllVariantsMatchReferenceOnAwkwardShapes) {
  UNET_REQUIRE_CUDA();
  const std::vector<MaxPool2dShape> shapes = {max_pool2d_shape(1, 2, 2, 1),
                                              max_pool2d_shape(2, 5, 7, 3),
                                              max_pool2d_shape(1, 1, 1, 1, 1, 1, 1, 1),
                                              max_pool2d_shape(3, 8, 8, 4),
                                              max_pool2d_shape(1, 9, 6, 8, 3, 3, 2, 2),
                                              max_pool2d_shape(2, 7, 7, 4, 3, 2, 1, 3),
                                              max_pool2d_shape(2, 16, 16, 32),
                                              max_pool2d_shape(2, 11, 13, 12),
                                              max_pool2d_shape(1, 6, 5, 4, 2, 3, 1, 1),
                                              max_pool2d_shape(10, 32, 32, 64)};
  uint64_t seed = 100;
  for (MaxPool2dVariant v : kVariants) {
    for (const MaxPool2dShape& s : shapes) {
      check_against_ref(v, s, 0, seed);
      check_against_ref(v, s, 1, seed);  // misaligned: v2 must fall back, still exact
      seed += 2;
    }
  }
}

TEST(MaxPool2dCuda, VariantNamesAndUnknownVariantRejected) {
  EXPECT_STREQ(kMaxPool2dVariants.name(MaxPool2dVariant::kV1Naive), "v1_naive");
  EXPECT_STREQ(kMaxPool2dVariants.name(MaxPool2dVariant::kV2Vectorized), "v2_vectorized");
  UNET_REQUIRE_CUDA();
  DeviceBuffer<float> buf(64);
  try {
    max_pool2d_forward_cuda(static_cast<MaxPool2dVariant>(7), max_pool2d_shape(1, 4, 4, 4),
                            buf.get(), buf.get(), nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_pool2d_forward_cuda: unknown variant 7"),
              std::string::npos)
        << e.what();
  }
  try {
    max_pool2d_backward_cuda(MaxPool2dVariant::kV1Naive, max_pool2d_shape(1, 1, 4, 4), buf.get(),
                             buf.get(), buf.get(), nullptr);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_pool2d_backward_cuda: window is larger"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace unet::kernels
