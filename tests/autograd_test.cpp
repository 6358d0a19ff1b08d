// Autograd tape: accumulation over reused tensors, leaf gradients, NoGradGuard, freed graphs,
// and the op front-ends' argument errors.
#include "engine/autograd.h"

#include <gtest/gtest.h>

#include "engine/ops.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

TEST(Autograd, MulAndAddGradients) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).set_requires_grad(true);
  // loss = sum(a*b + a) -> dloss/da = b + 1, dloss/db = a
  Tensor loss = sum(add(mul(a, b), a));
  EXPECT_FLOAT_EQ(loss.item(), 4 + 10 + 18 + 6);
  loss.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{5, 6, 7}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{1, 2, 3}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroGrad) {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  sum(scale(a, 3.0f)).backward();
  sum(scale(a, 3.0f)).backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{6, 6}));
  a.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard guard;
    y = scale(a, 2.0f);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  EXPECT_TRUE(grad_mode_enabled());
}

TEST(Autograd, SecondBackwardThroughFreedGraphIsAClearError) {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor h = scale(a, 2.0f);
  Tensor l1 = sum(h);
  l1.backward();
  Tensor l2 = sum(h);  // h's node was consumed by the first backward
  testing::expect_runtime_error([&] { l2.backward(); }, "already freed");
}

TEST(Autograd, BackwardNeedsAScalarThatRequiresGrad) {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  EXPECT_THROW(scale(a, 2.0f).backward(), std::invalid_argument);
  Tensor c = Tensor::from_vector({1}, {1});
  testing::expect_invalid([&] { c.backward(); }, "does not require grad");
}

TEST(Autograd, SavedTensorsAreReleasedAfterBackward) {
  Tensor x = Tensor::from_vector(testing::random_floats(2 * 4 * 4 * 3, 1), {2, 4, 4, 3});
  Tensor w = Tensor::from_vector(testing::random_floats(5 * 3 * 3 * 3, 2), {5, 3, 3, 3})
                 .set_requires_grad(true);
  Tensor y = conv2d(x, w, Tensor(), {1, 1, true});
  Tensor loss = sum(y);
  ASSERT_TRUE(y.grad_fn());
  loss.backward();
  EXPECT_FALSE(y.grad_fn()->backward) << "the node's closure (and its saved tensors) is dropped";
  EXPECT_TRUE(y.grad_fn()->inputs.empty());
}

TEST(OpsErrors, ConvChannelMismatchNamesShapes) {
  Tensor x = Tensor::zeros({1, 8, 8, 3});
  Tensor w = Tensor::zeros({4, 3, 3, 2});
  try {
    conv2d(x, w, Tensor());
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        "conv2d: input float32[1, 8, 8, 3] on cpu has 3 channels but weight float32[4, 3, 3, 2] on "
        "cpu (KRSC) expects 2");
  }
}

TEST(OpsErrors, RankAndDtypeAreChecked) {
  testing::expect_invalid(
      [] {
        conv2d(Tensor::zeros({8, 8, 3}), Tensor::zeros({4, 3, 3, 3}), Tensor());
      },
      "input x must have rank 4");
  testing::expect_invalid([] { relu(Tensor::zeros({4}, DType::kUInt8)); }, "must be float32");
}

TEST(OpsErrors, ConcatAndLossShapesAreChecked) {
  EXPECT_THROW(concat_channels(Tensor::zeros({1, 4, 4, 2}), Tensor::zeros({1, 4, 5, 2})),
               std::invalid_argument);
  testing::expect_invalid(
      [] {
        dice_loss(Tensor::zeros({1, 4, 4, 1}), Tensor::zeros({1, 4, 4, 2}));
      },
      "must have the same shape");
  EXPECT_THROW(dice_loss(Tensor::zeros({4}), Tensor::zeros({4}), 0.0f), std::invalid_argument);
  EXPECT_THROW(max_pool2d(Tensor::zeros({1, 1, 1, 2})), std::invalid_argument);
}

TEST(Ops, MaxPoolFloorsOddSizesLikePyTorch) {
  Tensor y = max_pool2d(Tensor::zeros({1, 5, 7, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3, 2}));
}

}  // namespace
}  // namespace unet
