// engine/profiler: the UNET_PROFILE=1 per-op timeline. Ops through dispatch() are counted per
// name with their declared FLOPs and bytes, only while profiling is on; the table lists them
// slowest first with a total. (The CUDA event path runs in unet_cuda_test's builds on a GPU.)
#include "engine/profiler.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/ops.h"
#include "engine/tensor.h"
#include "tests/testing/testing.h"

namespace unet {
namespace {

const OpProfileRow* find(const std::vector<OpProfileRow>& rows, const std::string& name) {
  for (const OpProfileRow& r : rows) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

class ProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    was_on_ = profiling_enabled();
    reset_op_profile();
  }
  void TearDown() override {
    set_profiling(was_on_);
    reset_op_profile();
  }
  bool was_on_ = false;
};

TEST_F(ProfilerTest, CountsCallsFlopsAndBytesPerOpWhileOn) {
  const Tensor x = Tensor::from_vector(testing::random_floats(2 * 6 * 5 * 3, 1), {2, 6, 5, 3});
  const Tensor w = Tensor::from_vector(testing::random_floats(4 * 3 * 3 * 3, 2), {4, 3, 3, 3});
  set_profiling(false);
  relu(x);
  EXPECT_TRUE(op_profile().empty()) << "nothing is recorded while profiling is off";

  set_profiling(true);
  for (int i = 0; i < 3; ++i) relu(x);
  conv2d(x, w, Tensor(), Conv2dOptions{1, 1, false});
  set_profiling(false);
  relu(x);  // off again: not counted

  const std::vector<OpProfileRow> rows = op_profile();
  const OpProfileRow* r = find(rows, "relu.forward");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->calls, 3);
  EXPECT_EQ(r->bytes, 3 * 8.0 * x.numel());  // read x, write y: 8 bytes per element per call
  EXPECT_GE(r->ms, 0.0);
  const OpProfileRow* c = find(rows, "conv2d.forward");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->calls, 1);
  EXPECT_EQ(c->flops, 2.0 * 2 * 6 * 5 * 4 * 3 * 3 * 3);  // 2*N*P*Q*K*R*S*C
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GE(rows[i - 1].ms, rows[i].ms) << "slowest first";

  const std::string table = op_profile_table();
  EXPECT_NE(table.find("relu.forward"), std::string::npos) << table;
  EXPECT_NE(table.find("conv2d.forward"), std::string::npos) << table;
  EXPECT_NE(table.find("FLOP/s"), std::string::npos) << table;
  EXPECT_NE(table.find("GB/s"), std::string::npos) << table;
  EXPECT_NE(table.find("\ntotal "), std::string::npos) << table;

  reset_op_profile();
  EXPECT_TRUE(op_profile().empty());
}

TEST_F(ProfilerTest, BackwardOpsAreNamedToo) {
  set_profiling(true);
  Tensor x = Tensor::from_vector(testing::random_floats(64, 3), {1, 4, 4, 4});
  x.set_requires_grad(true);
  Tensor loss = sum(relu(x));
  loss.backward();
  set_profiling(false);
  const std::vector<OpProfileRow> rows = op_profile();
  EXPECT_NE(find(rows, "relu.forward"), nullptr);
  EXPECT_NE(find(rows, "relu.backward"), nullptr);
  EXPECT_NE(find(rows, "sum"), nullptr);
}

}  // namespace
}  // namespace unet
