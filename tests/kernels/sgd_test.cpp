// sgd: one case table of slot tables (tensors of awkward sizes: 0, 1, odd, a CUDA chunk +- 1,
// above the OpenMP threshold; 9 slots with a fresh buffer, 70 with a random one so CUDA needs two
// launches) run on every backend (the CPU fast path and the CUDA multi-tensor kernel) against the
// naive CPU reference over three steps with momentum 0.9 and 0, and three hand-computed steps on
// every backend (momentum 0.9 with and without weight decay, momentum 0 with a null buffer).
// Plain tests: the reference against the hand steps, the rejection messages, the host-side checks
// of the CUDA entry point and the stub of a build without CUDA.
#include "kernels/sgd/sgd.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/param_slot_cases.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using namespace ::unet::testing;  // helpers: tests/testing/*.h

void sgd_step(const KernelBackend& b, const SgdHyper& h, const std::vector<ParamSlot>& slots) {
  if (b.cuda) {
    sgd_step_cuda(h, slots.data(), int(slots.size()), nullptr);
  } else {
    sgd_step_cpu(h, slots.data(), int(slots.size()));
  }
}

// The hand example (p0 = {1, -2, 0.5}, gradients in tests/testing/param_slot_cases.h):
// SGD, lr 0.1, momentum 0.9:
//  no weight decay: step 1 buf = g = {0.1, -0.2, 0}, p = {0.99, -1.98, 0.5};
//    step 2 buf = 0.9 buf + g = {0.39, -0.08, -0.4}, p = {0.951, -1.972, 0.54};
//    step 3 buf = {0.251, -0.072, -0.16}, p = {0.9259, -1.9648, 0.556}.
//  weight decay 0.1: step 1 g' = {0.2, -0.4, 0.05}, p = {0.98, -1.96, 0.495};
//    step 2 g' = {0.398, -0.096, -0.3505}, buf = {0.578, -0.456, -0.3055}, p = {0.9222, -1.9144,
//    0.52555}; step 3 buf = {0.51242, -0.60184, -0.022395}, p = {0.870958, -1.854216, 0.5277895}.
//  momentum 0 (buffer null): p -= 0.1 g: {0.99, -1.98, 0.5}, {0.96, -1.99, 0.54}, {0.97, -1.99,
//  0.52}.
// Float rounding keeps every backend within 1e-6 of these.
struct HandCase {
  float momentum, wd;
  float want[3][3];
};
const HandCase kHandCases[] = {
    {0.9f, 0.0f, {{0.99f, -1.98f, 0.5f}, {0.951f, -1.972f, 0.54f}, {0.9259f, -1.9648f, 0.556f}}},
    {0.9f,
     0.1f,
     {{0.98f, -1.96f, 0.495f}, {0.9222f, -1.9144f, 0.52555f}, {0.870958f, -1.854216f, 0.5277895f}}},
    {0.0f, 0.0f, {{0.99f, -1.98f, 0.5f}, {0.96f, -1.99f, 0.54f}, {0.97f, -1.99f, 0.52f}}},
};

// The start state: p0 and a garbage momentum buffer (step 1 must overwrite it).
HostSlots hand_start() {
  HostSlots s;
  s.p = {hand_p0()};
  s.g = {hand_grads()[0]};
  s.m = {std::vector<float>(3, 777.0f)};
  s.v = {std::vector<float>(3, 0.0f)};
  return s;
}

// Runs the three hand steps of every HandCase: `reset()` sets the state to hand_start(),
// `step(h, g, slot_m_null)` takes one step with gradient g (with a null buffer pointer when
// momentum is 0), `state()` reads the parameters back after each step.
template <typename Reset, typename Step, typename State>
void check_hand_steps(Reset reset, Step step, State state) {
  for (const HandCase& c : kHandCases) {
    SCOPED_TRACE(::testing::Message() << "momentum=" << c.momentum << " weight_decay=" << c.wd);
    reset();
    for (int s = 0; s < 3; ++s) {
      SgdHyper h;
      h.lr = 0.1f;
      h.momentum = c.momentum;
      h.weight_decay = c.wd;
      h.step = s + 1;
      step(h, hand_grads()[size_t(s)], c.momentum == 0.0f);
      const HostSlots got = state();
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(got.p[0][size_t(i)], c.want[s][i], 1e-6)
            << "step " << s + 1 << " element " << i;
      }
    }
  }
}

// ---------------------------------------------------------------- every backend vs the reference

class SgdTest : public ::testing::TestWithParam<KernelBackend> {};

// Same float expression in every backend (sgd_check.h); only multiply-add contraction (nvcc, the
// compiler's CPU loop) can differ: parameters rtol 1e-6 (atol 1e-7), buffers rtol 1e-5 (tiny atol
// for values near 0). With momentum 0 the buffer is not touched on any backend.
TEST_P(SgdTest, MatchesReferenceOverManySlots) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 600;
  for (const SlotCase& c : slot_cases()) {
    for (float momentum : {0.9f, 0.0f}) {
      SCOPED_TRACE(::testing::Message() << b.name << " " << c.name << " momentum=" << momentum);
      HostSlots want = make_slots(c, seed);
      BackendSlots got_slots(b, want);
      seed += 10000;
      auto tw = want.table();
      for (int step = 1; step <= 3; ++step) {
        SgdHyper h;
        h.momentum = momentum;
        h.weight_decay = 0.01f;
        h.step = step;
        sgd_step_ref(h, tw.data(), int(tw.size()));
        sgd_step(b, h, got_slots.table);
      }
      const HostSlots got = got_slots.to_host();
      for (size_t i = 0; i < tw.size(); ++i) {
        EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
        EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-8f, "buf " + std::to_string(i)));
        EXPECT_TRUE(bitwise_equal(got.g[i], want.g[i], "grad " + std::to_string(i)));
        EXPECT_TRUE(bitwise_equal(got.v[i], want.v[i], "v " + std::to_string(i)));  // unused
      }
    }
  }
}

TEST_P(SgdTest, MatchesHandComputedSteps) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  std::unique_ptr<BackendSlots> state;
  check_hand_steps([&] { state = std::make_unique<BackendSlots>(b, hand_start()); },
                   [&](const SgdHyper& h, const std::vector<float>& g, bool no_buffer) {
                     BackendBuffer<float> grad(b, g);
                     std::vector<ParamSlot> slot = state->table;
                     slot[0].grad = grad.get();
                     slot[0].v = nullptr;
                     if (no_buffer) slot[0].m = nullptr;
                     sgd_step(b, h, slot);
                   },
                   [&] { return state->to_host(); });
}

INSTANTIATE_TEST_SUITE_P(Backends, SgdTest, ::testing::ValuesIn(cpu_and_cuda()), backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(SgdCpu, ReferenceMatchesHandComputedSteps) {
  HostSlots state;
  check_hand_steps([&] { state = hand_start(); },
                   [&](const SgdHyper& h, const std::vector<float>& g, bool no_buffer) {
                     state.g[0] = g;
                     std::vector<ParamSlot> slot = state.table();
                     slot[0].v = nullptr;
                     if (no_buffer) slot[0].m = nullptr;
                     sgd_step_ref(h, slot.data(), 1);
                   },
                   [&] { return state; });
}

TEST(SgdCpu, RejectsBadArguments) {
  std::vector<float> p(2), g(2), m(2), v(2);
  const ParamSlot good{p.data(), g.data(), m.data(), v.data(), 2};
  SgdHyper s;
  s.momentum = -0.9f;
  expect_invalid([&] { sgd_step_cpu(s, &good, 1); },
                 "sgd_step_cpu: momentum must be finite and >= 0, got -0.9");
  s = SgdHyper{};
  s.step = 0;
  expect_invalid([&] { sgd_step_ref(s, &good, 1); },
                 "sgd_step_ref: step must be >= 1 (it counts from 1), got 0");
  s = SgdHyper{};
  s.lr = -1.0f;
  expect_invalid([&] { sgd_step_cpu(s, &good, 1); }, "lr must be finite and >= 0, got -1");
  const ParamSlot no_m{p.data(), g.data(), nullptr, nullptr, 2};
  expect_invalid([&] { sgd_step_ref(SgdHyper{}, &no_m, 1); },
                 "sgd_step_ref: slot 0 (n = 2) has a null param/grad/m pointer");
  expect_invalid([&] { sgd_step_cpu(SgdHyper{}, nullptr, 2); },
                 "sgd_step_cpu: slots must not be null when count is 2");
  // An empty slot may have null pointers; momentum 0 needs no buffer.
  const ParamSlot empty{nullptr, nullptr, nullptr, nullptr, 0};
  EXPECT_NO_THROW(sgd_step_cpu(SgdHyper{}, &empty, 1));
  s = SgdHyper{};
  s.momentum = 0.0f;
  EXPECT_NO_THROW(sgd_step_cpu(s, &no_m, 1));
}

// ---------------------------------------------------------------- CUDA entry point, host side

TEST(SgdCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed;
  // a table of empty slots launches nothing.
  UNET_REQUIRE_CUDA_BUILD();
  std::vector<float> p(2), g(2), m(2), v(2);
  const ParamSlot good{p.data(), g.data(), m.data(), v.data(), 2};
  SgdHyper s;
  s.momentum = -0.9f;
  expect_invalid([&] { sgd_step_cuda(s, &good, 1, nullptr); },
                 "sgd_step_cuda: momentum must be finite and >= 0, got -0.9");
  const ParamSlot no_m{p.data(), g.data(), nullptr, nullptr, 2};
  expect_invalid([&] { sgd_step_cuda(SgdHyper{}, &no_m, 1, nullptr); },
                 "sgd_step_cuda: slot 0 (n = 2) has a null param/grad/m pointer");
  const ParamSlot empty{nullptr, nullptr, nullptr, nullptr, 0};
  EXPECT_NO_THROW(sgd_step_cuda(SgdHyper{}, &empty, 1, nullptr));
}

TEST(SgdCudaContract, StubReportsNoCudaBackend) {
  // sgd_cuda_stub.cpp stands in for sgd_cuda.cu in a build without CUDA.
  if (::unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error([] { sgd_step_cuda(SgdHyper{}, nullptr, 0, nullptr); },
                       "sgd_step_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
