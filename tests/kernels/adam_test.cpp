// adam: one case table of slot tables (tensors of awkward sizes: 0, 1, odd, a CUDA chunk +- 1,
// above the OpenMP threshold; 9 slots with a fresh state, 70 with a random one so CUDA needs two
// launches) run on every backend (the CPU fast path and the CUDA multi-tensor kernel) against the
// naive CPU reference over three steps, and three hand-computed steps on every backend.
// Plain tests: the reference against the hand steps, the rejection messages, the host-side checks
// of the CUDA entry point, CUDA run-to-run bitwise determinism and the stub of a build without
// CUDA.
#include "kernels/adam/adam.h"

#include <cmath>
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

void adam_step(const KernelBackend& b, const AdamHyper& h, const std::vector<ParamSlot>& slots) {
  if (b.cuda) {
    adam_step_cuda(h, slots.data(), int(slots.size()), nullptr);
  } else {
    adam_step_cpu(h, slots.data(), int(slots.size()));
  }
}

// The hand example (p0 = {1, -2, 0.5}, gradients in tests/testing/param_slot_cases.h):
// Adam, lr 0.1, betas (0.9, 0.999), eps 1e-8.
// No weight decay:
//  step 1: m = 0.1 g, v = 0.001 g^2; bc1 = 0.1, bc2 = 0.001 -> m^ = g, v^ = g^2, so
//          p -= 0.1 * g/(|g| + 1e-8): {0.9, -1.9, 0.5} (g = 0 leaves element 2 alone: 0/(0+eps)).
//  step 2: m = 0.9 m + 0.1 g = {0.039, -0.008, -0.04}; v = 0.999 v + 0.001 g^2
//          = {9.999e-5, 4.996e-5, 1.6e-4}; bc1 = 0.19, bc2 = 0.001999;
//          element 0: 0.1 * (0.039/0.19) / sqrt(9.999e-5/0.001999) = 0.1*0.2052632/0.2236522
//          = 0.0917779 -> 0.8082221; likewise {-1.8733663, 0.5744137}.
//  step 3: m = {0.0251, -0.0072, -0.016}, v = {1.0989e-4, 4.991004e-5, 1.9984e-4}, bc1 = 0.271,
//          bc2 = 0.002997001 -> p = {0.7598527, -1.8527784, 0.5972777}.
// Weight decay 0.1 (g' = g + 0.1 p):
//  step 1: g' = {0.2, -0.4, 0.05} -> p = {0.9, -1.9, 0.4}; m = 0.1 g', v = 0.001 g'^2.
//  step 2: g' = {0.39, -0.09, -0.36} -> m = {0.057, -0.045, -0.0315},
//          v = {1.9206e-4, 1.6794e-4, 1.320975e-4} -> p = {0.8032148, -1.8182876, 0.4644935}.
//  step 3: -> p = {0.7313419, -1.7346373, 0.4698852}.
// Values from double arithmetic; float rounding of the state keeps the error under 1e-6 (on the
// device too: nvcc may contract multiply-adds, a few ulp).
const float kWantNoWd[3][3] = {{0.9f, -1.9f, 0.5f},
                               {0.8082219f, -1.8733663f, 0.5744137f},
                               {0.7598527f, -1.8527784f, 0.5972777f}};
const float kWantWd[3][3] = {{0.9f, -1.9f, 0.4f},
                             {0.8032148f, -1.8182876f, 0.4644935f},
                             {0.7313419f, -1.7346373f, 0.4698852f}};

// Runs the three hand steps for weight decay 0 and 0.1: `reset()` sets the state to the start
// (p0, zero moments), `step(h, g)` takes one step with gradient g, `state()` reads p, m, v back.
// Checks the parameters after every step and the moments after step 3 without weight decay.
template <typename Reset, typename Step, typename State>
void check_hand_steps(Reset reset, Step step, State state) {
  for (float wd : {0.0f, 0.1f}) {
    SCOPED_TRACE(::testing::Message() << "weight_decay=" << wd);
    reset();
    for (int s = 0; s < 3; ++s) {
      AdamHyper h;
      h.lr = 0.1f;
      h.weight_decay = wd;
      h.step = s + 1;
      step(h, hand_grads()[size_t(s)]);
      const HostSlots got = state();
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(got.p[0][size_t(i)], (wd == 0.0f ? kWantNoWd : kWantWd)[s][i], 1e-6)
            << "step " << s + 1 << " element " << i;
      }
      if (wd == 0.0f && s == 2) {  // moments after step 3
        EXPECT_NEAR(got.m[0][0], 0.0251f, 1e-8);
        // beta2 = 0.999f is 0.99900001287, so 1 - beta2 sits 1.3e-5 (relative) below 0.001 and v
        // with it; the bias correction uses the same float beta2, so p is not affected.
        EXPECT_NEAR(got.v[0][2], 1.9984e-4f, 2e-5 * 1.9984e-4);
      }
    }
  }
}

HostSlots hand_start() {
  HostSlots s;
  s.p = {hand_p0()};
  s.g = {hand_grads()[0]};
  s.m = {std::vector<float>(3, 0.0f)};
  s.v = {std::vector<float>(3, 0.0f)};
  return s;
}

// ---------------------------------------------------------------- every backend vs the reference

class AdamTest : public ::testing::TestWithParam<KernelBackend> {};

// Same float expression in every backend (adam_check.h); only multiply-add contraction (the
// vectorised CPU loop, nvcc) can differ: parameters rtol 1e-6 (atol 1e-7), moments rtol 1e-5
// (tiny atol for values near 0).
TEST_P(AdamTest, MatchesReferenceOverManySlots) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  uint64_t seed = 500;
  for (const SlotCase& c : slot_cases()) {
    SCOPED_TRACE(b.name + " " + c.name);
    HostSlots want = make_slots(c, seed);
    BackendSlots got_slots(b, want);
    seed += 10000;
    auto tw = want.table();
    for (int step = 1; step <= 3; ++step) {
      AdamHyper h;
      h.weight_decay = 0.01f;
      h.step = step;
      adam_step_ref(h, tw.data(), int(tw.size()));
      adam_step(b, h, got_slots.table);
    }
    const HostSlots got = got_slots.to_host();
    for (size_t i = 0; i < tw.size(); ++i) {
      EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
      EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-9f, "m " + std::to_string(i)));
      EXPECT_TRUE(all_close(got.v[i], want.v[i], 1e-5f, 1e-12f, "v " + std::to_string(i)));
      EXPECT_TRUE(bitwise_equal(got.g[i], want.g[i], "grad " + std::to_string(i)));  // read only
    }
  }
}

TEST_P(AdamTest, MatchesHandComputedSteps) {
  const KernelBackend& b = GetParam();
  UNET_REQUIRE_BACKEND(b);
  std::unique_ptr<BackendSlots> state;
  check_hand_steps([&] { state = std::make_unique<BackendSlots>(b, hand_start()); },
                   [&](const AdamHyper& h, const std::vector<float>& g) {
                     BackendBuffer<float> grad(b, g);
                     std::vector<ParamSlot> slot = state->table;
                     slot[0].grad = grad.get();
                     adam_step(b, h, slot);
                   },
                   [&] { return state->to_host(); });
}

INSTANTIATE_TEST_SUITE_P(Backends, AdamTest, ::testing::ValuesIn(cpu_and_cuda()),
                         backend_test_name);

// ---------------------------------------------------------------- the reference and the CPU path

TEST(AdamCpu, ReferenceMatchesHandComputedSteps) {
  HostSlots state;
  check_hand_steps([&] { state = hand_start(); },
                   [&](const AdamHyper& h, const std::vector<float>& g) {
                     state.g[0] = g;
                     const std::vector<ParamSlot> slot = state.table();
                     adam_step_ref(h, slot.data(), 1);
                   },
                   [&] { return state; });
}

TEST(AdamCpu, RejectsBadArguments) {
  std::vector<float> p(2), g(2), m(2), v(2);
  const ParamSlot good{p.data(), g.data(), m.data(), v.data(), 2};
  AdamHyper a;
  a.step = 0;
  expect_invalid([&] { adam_step_cpu(a, &good, 1); },
                 "adam_step_cpu: step must be >= 1 (it counts from 1), got 0");
  a = AdamHyper{};
  a.beta1 = 1.0f;
  expect_invalid([&] { adam_step_ref(a, &good, 1); },
                 "adam_step_ref: beta1 must be in [0, 1), got 1");
  a = AdamHyper{};
  a.beta2 = -0.5f;
  expect_invalid([&] { adam_step_cpu(a, &good, 1); }, "beta2 must be in [0, 1), got -0.5");
  a = AdamHyper{};
  a.lr = -1.0f;
  expect_invalid([&] { adam_step_cpu(a, &good, 1); }, "lr must be finite and >= 0, got -1");
  a = AdamHyper{};
  a.eps = -1.0f;
  expect_invalid([&] { adam_step_cpu(a, &good, 1); }, "eps must be finite and >= 0");
  a = AdamHyper{};
  a.weight_decay = -0.1f;
  expect_invalid([&] { adam_step_cpu(a, &good, 1); }, "weight_decay must be finite and >= 0");
  const ParamSlot no_v{p.data(), g.data(), m.data(), nullptr, 2};
  const ParamSlot slots2[] = {good, no_v};
  expect_invalid([&] { adam_step_cpu(AdamHyper{}, slots2, 2); },
                 "adam_step_cpu: slot 1 (n = 2) has a null param/grad/m/v pointer");
  const ParamSlot negative{p.data(), g.data(), m.data(), v.data(), -4};
  expect_invalid([&] { adam_step_cpu(AdamHyper{}, &negative, 1); }, "slot 0 has n = -4");
  expect_invalid([&] { adam_step_cpu(AdamHyper{}, nullptr, 3); },
                 "slots must not be null when count is 3");
  expect_invalid([&] { adam_step_cpu(AdamHyper{}, &good, -1); }, "count must be >= 0, got -1");
  // An empty slot may have null pointers.
  const ParamSlot empty{nullptr, nullptr, nullptr, nullptr, 0};
  EXPECT_NO_THROW(adam_step_cpu(AdamHyper{}, &empty, 1));
  EXPECT_NO_THROW(adam_step_ref(AdamHyper{}, &empty, 1));
}

// ---------------------------------------------------------------- CUDA

// Elementwise, no reductions: two runs give the same bits.
TEST(AdamCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const KernelBackend cuda = cpu_and_cuda()[1];
  const SlotCase c{"random_20", 20, slot_cases()[1].sizes, true};
  const HostSlots start = make_slots(c, 990);
  HostSlots out[2];
  for (int r = 0; r < 2; ++r) {
    BackendSlots dev(cuda, start);
    for (int step = 1; step <= 2; ++step) {
      AdamHyper h;
      h.step = step;
      adam_step(cuda, h, dev.table);
    }
    out[r] = dev.to_host();
  }
  for (size_t i = 0; i < start.p.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(out[0].p[i], out[1].p[i], "param"));
  }
}

TEST(AdamCudaContract, RejectionsBeforeAnyLaunch) {
  // Checked on the host before any CUDA call, so no device (and no device pointer) is needed;
  // a table of empty slots launches nothing.
  UNET_REQUIRE_CUDA_BUILD();
  std::vector<float> p(2), g(2), m(2), v(2);
  const ParamSlot good{p.data(), g.data(), m.data(), v.data(), 2};
  AdamHyper a;
  a.step = 0;
  expect_invalid([&] { adam_step_cuda(a, &good, 1, nullptr); },
                 "adam_step_cuda: step must be >= 1 (it counts from 1), got 0");
  a = AdamHyper{};
  a.beta2 = 1.0f;
  expect_invalid([&] { adam_step_cuda(a, &good, 1, nullptr); },
                 "adam_step_cuda: beta2 must be in [0, 1), got 1");
  const ParamSlot no_m{p.data(), g.data(), nullptr, v.data(), 2};
  expect_invalid([&] { adam_step_cuda(AdamHyper{}, &no_m, 1, nullptr); },
                 "adam_step_cuda: slot 0 (n = 2) has a null param/grad/m/v pointer");
  const ParamSlot empty{nullptr, nullptr, nullptr, nullptr, 0};
  EXPECT_NO_THROW(adam_step_cuda(AdamHyper{}, &empty, 1, nullptr));
  EXPECT_NO_THROW(adam_step_cuda(AdamHyper{}, nullptr, 0, nullptr));
}

TEST(AdamCudaContract, StubReportsNoCudaBackend) {
  // adam_cuda_stub.cpp stands in for adam_cuda.cu in a build without CUDA.
  if (::unet::testing::cuda_backend_built()) GTEST_SKIP() << "the CUDA backend is built";
  expect_runtime_error([] { adam_step_cuda(AdamHyper{}, nullptr, 0, nullptr); },
                       "adam_step_cuda: this build has no CUDA backend");
}

}  // namespace
}  // namespace unet::kernels
