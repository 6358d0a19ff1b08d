// The variant plumbing every op shares: kernels::VariantTable (names, lookup, parsing, defaults)
// and the engine's choice of variant (kernel_config().variant, math mode).
#include "engine/kernel_config.h"

#include <gtest/gtest.h>

#include "engine/ops.h"
#include "engine/tensor.h"
#include "kernels/common/variant_table.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/max_pool2d/max_pool2d.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

using testing::expect_invalid;

constexpr kernels::VariantInfo kRows[] = {{1, "v1_naive", false}, {3, "v3_tf32", true}};
constexpr kernels::VariantTable kTable{"toy", kRows, 1, 3};

TEST(VariantTable, LooksUpNamesAndPrecisionById) {
  EXPECT_EQ(kTable.size(), 2);
  EXPECT_STREQ(kTable.at(3, "test").name, "v3_tf32");
  EXPECT_TRUE(kTable.at(3, "test").tf32);
  EXPECT_FALSE(kTable.at(1, "test").tf32);
  EXPECT_EQ(kTable.find(2), nullptr);  // ids need not be contiguous
  EXPECT_EQ(kTable.ids(), (std::vector<int>{1, 3}));
  EXPECT_EQ(kTable.known(), "1 v1_naive, 3 v3_tf32");
}

TEST(VariantTable, UnknownIdNamesTheCallerTheOpAndTheChoices) {
  expect_invalid([] { kTable.at(2, "toy_forward_cuda"); },
                 {"toy_forward_cuda: unknown variant 2 of toy", "known: 1 v1_naive, 3 v3_tf32"});
}

TEST(VariantTable, ParsesNumberShortAndFullName) {
  EXPECT_EQ(kTable.parse("3"), 3);
  EXPECT_EQ(kTable.parse("v3"), 3);
  EXPECT_EQ(kTable.parse("v3_tf32"), 3);
  EXPECT_EQ(kTable.parse("v1_naive"), 1);
  expect_invalid([] { kTable.parse("v2"); }, {"unknown toy variant 'v2'", "known: 1 v1_naive"});
}

TEST(VariantTable, DefaultsDependOnTheMathMode) {
  EXPECT_EQ(kTable.default_id(false), 1);
  EXPECT_EQ(kTable.default_id(true), 3);
}

// Restores the process-wide configuration whatever a test does to it.
class KernelConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = kernel_config(); }
  void TearDown() override { kernel_config() = saved_; }
  KernelConfig saved_;
};

TEST_F(KernelConfigTest, EngineRunsTheTableDefaultUnlessAVariantIsForced) {
  kernel_config().math = MathMode::kFp32;
  EXPECT_EQ(variant_in_use(kTable), 1);
  kernel_config().math = MathMode::kTf32;
  EXPECT_EQ(variant_in_use(kTable), 3);
  kernel_config().variant["toy"] = 1;
  EXPECT_EQ(variant_in_use(kTable), 1);
  // Forcing one op leaves the others on their defaults.
  EXPECT_EQ(variant_in_use(kernels::kMaxPool2dVariants),
            kernels::kMaxPool2dVariants.default_id(true));
}

TEST_F(KernelConfigTest, ForcingAnUnknownVariantIsRejected) {
  kernel_config().variant["conv2d"] = 9;
  expect_invalid([] { variant_in_use(kernels::kConv2dVariants); },
                 {"unknown variant 9 of conv2d", "known: 1 v1_naive, 2 v2_tiled, 3 v3_tf32"});
}

// The CPU conv variants: forcing "conv2d_cpu" = 2 runs Winograd on the 3x3 / stride 1 / pad 1
// convs (the result differs in its last bits from im2col's and stays within Winograd's stated
// tolerance), and leaves shapes it does not cover (stride 2 here) on the im2col path, bitwise.
TEST_F(KernelConfigTest, ForcedCpuConvVariantRunsWhereItApplies) {
  const Tensor x = Tensor::from_vector(testing::random_floats(2 * 9 * 7 * 8, 1), {2, 9, 7, 8});
  const Tensor w = Tensor::from_vector(testing::random_floats(16 * 3 * 3 * 8, 2), {16, 3, 3, 8});
  const Tensor b = Tensor::from_vector(testing::random_floats(16, 3), {16});
  Conv2dOptions same{1, 1, true}, strided{2, 1, true};
  const std::vector<float> im2col = conv2d(x, w, b, same).to_vector();
  const std::vector<float> im2col_strided = conv2d(x, w, b, strided).to_vector();
  kernel_config().variant["conv2d_cpu"] = 2;
  const std::vector<float> winograd = conv2d(x, w, b, same).to_vector();
  EXPECT_NE(winograd, im2col) << "forcing variant 2 did not change the path";
  EXPECT_TRUE(testing::all_close(winograd, im2col, 1e-5f, 81e-6f * 72 / 9, "winograd vs im2col"));
  EXPECT_EQ(conv2d(x, w, b, strided).to_vector(), im2col_strided);
  if (kernels::conv2d_direct_available()) {
    // The direct conv sums each output in one chain over (r, s, c); OpenBLAS blocks a reduction
    // of 3*3*64 = 576, so the bits differ there and show which path ran. It computes strided
    // forwards too.
    kernel_config().variant.erase("conv2d_cpu");
    const Tensor x64 =
        Tensor::from_vector(testing::random_floats(2 * 9 * 7 * 64, 4), {2, 9, 7, 64});
    const Tensor w64 =
        Tensor::from_vector(testing::random_floats(16 * 3 * 3 * 64, 5), {16, 3, 3, 64});
    const std::vector<float> gemm = conv2d(x64, w64, b, same).to_vector();
    const std::vector<float> gemm_strided = conv2d(x64, w64, b, strided).to_vector();
    kernel_config().variant["conv2d_cpu"] = 3;
    const std::vector<float> direct = conv2d(x64, w64, b, same).to_vector();
    const std::vector<float> direct_strided = conv2d(x64, w64, b, strided).to_vector();
    EXPECT_NE(direct, gemm) << "forcing variant 3 did not change the path";
    EXPECT_NE(direct_strided, gemm_strided) << "forcing variant 3 did not change the path";
    EXPECT_TRUE(testing::all_close(direct, gemm, 1e-5f, 1e-6f * 576, "direct vs im2col"));
    EXPECT_TRUE(testing::all_close(direct_strided, gemm_strided, 1e-5f, 1e-6f * 576,
                                   "direct vs im2col, stride 2"));
  }
  kernel_config().variant["conv2d_cpu"] = 4;
  expect_invalid([&] { conv2d(x, w, b, same); },
                 {"unknown variant 4 of conv2d_cpu",
                  "known: 1 cpu_im2col, 2 cpu_winograd_f2x3, 3 cpu_direct"});
}

TEST_F(KernelConfigTest, VariantsAreForcedByASpec) {
  KernelConfig c;
  force_variants(
      c, "conv2d_cpu=2,max_pool2d=v1,conv2d=" + std::string(kernels::kConv2dVariants.begin()->name),
      "test");
  EXPECT_EQ(c.variant.at("conv2d_cpu"), 2);
  EXPECT_EQ(c.variant.at("max_pool2d"), 1);
  EXPECT_EQ(c.variant.at("conv2d"), kernels::kConv2dVariants.begin()->id);
  force_variants(c, "conv2d_cpu=cpu_im2col", "test");  // a later spec overrides one op
  EXPECT_EQ(c.variant.at("conv2d_cpu"), 1);
  EXPECT_EQ(c.variant.size(), 3u);
}

TEST_F(KernelConfigTest, BadVariantSpecsAreRejectedAndChangeNothing) {
  KernelConfig c;
  c.variant["concat"] = 1;
  const auto before = c.variant;
  expect_invalid([&] { force_variants(c, "conv2d_cpu", "UNET_VARIANT"); },
                 "UNET_VARIANT: 'conv2d_cpu' is not op=variant");
  expect_invalid([&] { force_variants(c, "=2", "UNET_VARIANT"); }, "'=2' is not op=variant");
  expect_invalid([&] { force_variants(c, "conv2d_cpu=", "UNET_VARIANT"); }, "is not op=variant");
  expect_invalid([&] { force_variants(c, "conv2d_cpu=2,", "UNET_VARIANT"); },
                 "'' is not op=variant");
  expect_invalid([&] { force_variants(c, "conv3d=1", "UNET_VARIANT"); },
                 {"unknown op 'conv3d'", "conv2d_cpu", "max_pool2d", "concat"});
  // The first item is good, the second bad: neither is applied.
  expect_invalid([&] { force_variants(c, "conv2d_cpu=2,conv2d_cpu=9", "UNET_VARIANT"); },
                 {"UNET_VARIANT: unknown conv2d_cpu variant '9'", "2 cpu_winograd_f2x3"});
  EXPECT_EQ(c.variant, before);
}

TEST_F(KernelConfigTest, VariantsAreForcedFromTheEnvironment) {
  setenv("UNET_VARIANT", "conv2d_cpu=2", 1);
  force_variants_from_environment();
  unsetenv("UNET_VARIANT");
  EXPECT_EQ(kernel_config().variant.at("conv2d_cpu"), 2);
  kernel_config().variant.clear();
  force_variants_from_environment();  // unset: nothing forced
  EXPECT_TRUE(kernel_config().variant.empty());
}

TEST(KernelConfig, ParsesMathModes) {
  EXPECT_EQ(parse_math_mode("fp32"), MathMode::kFp32);
  EXPECT_EQ(parse_math_mode("tf32"), MathMode::kTf32);
  EXPECT_STREQ(math_mode_name(MathMode::kTf32), "tf32");
  expect_invalid([] { parse_math_mode("bf16"); }, "unknown precision 'bf16'");
}

}  // namespace
}  // namespace unet
