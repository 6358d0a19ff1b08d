// optim CPU tests: Adam and SGD against hand-computed steps (3 elements, 3 steps, with and without
// weight decay), the OpenMP path against the reference over many slots of awkward sizes, errors.
#include "kernels/optim/optim.h"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using ::unet::testing::all_close;
using ::unet::testing::random_floats;

// The shared example: p0 = {1, -2, 0.5}, gradients per step (element 2 has g = 0 at step 1).
const std::vector<float> kP0 = {1.0f, -2.0f, 0.5f};
const std::vector<std::vector<float>> kGrads = {
    {0.1f, -0.2f, 0.0f}, {0.3f, 0.1f, -0.4f}, {-0.1f, 0.0f, 0.2f}};

using StepFn = void (*)(const AdamHyper&, const ParamSlot*, int);

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
// Values from double arithmetic; float rounding of the state keeps the error under 1e-6.
void check_adam_hand(StepFn step_fn) {
  const float want_nowd[3][3] = {{0.9f, -1.9f, 0.5f},
                                 {0.8082219f, -1.8733663f, 0.5744137f},
                                 {0.7598527f, -1.8527784f, 0.5972777f}};
  const float want_wd[3][3] = {{0.9f, -1.9f, 0.4f},
                               {0.8032148f, -1.8182876f, 0.4644935f},
                               {0.7313419f, -1.7346373f, 0.4698852f}};
  for (float wd : {0.0f, 0.1f}) {
    SCOPED_TRACE(::testing::Message() << "weight_decay=" << wd);
    std::vector<float> p = kP0, m(3, 0.0f), v(3, 0.0f);
    for (int s = 0; s < 3; ++s) {
      AdamHyper h;
      h.lr = 0.1f;
      h.weight_decay = wd;
      h.step = s + 1;
      const ParamSlot slot{p.data(), kGrads[size_t(s)].data(), m.data(), v.data(), 3};
      step_fn(h, &slot, 1);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(p[size_t(i)], (wd == 0.0f ? want_nowd : want_wd)[s][i], 1e-6)
            << "step " << s + 1 << " element " << i;
      }
    }
    if (wd == 0.0f) {  // moments after step 3
      EXPECT_NEAR(m[0], 0.0251f, 1e-8);
      // beta2 = 0.999f is 0.99900001287, so 1 - beta2 sits 1.3e-5 (relative) below 0.001 and v
      // with it; the bias correction uses the same float beta2, so p is not affected.
      EXPECT_NEAR(v[2], 1.9984e-4f, 2e-5 * 1.9984e-4);
    }
  }
}

TEST(Adam, ReferenceMatchesHandComputedSteps) { check_adam_hand(adam_step_ref); }
TEST(Adam, CpuMatchesHandComputedSteps) { check_adam_hand(adam_step_cpu); }

// SGD, lr 0.1, momentum 0.9:
//  no weight decay: step 1 buf = g = {0.1, -0.2, 0}, p = {0.99, -1.98, 0.5};
//    step 2 buf = 0.9 buf + g = {0.39, -0.08, -0.4}, p = {0.951, -1.972, 0.54};
//    step 3 buf = {0.251, -0.072, -0.16}, p = {0.9259, -1.9648, 0.556}.
//  weight decay 0.1: step 1 g' = {0.2, -0.4, 0.05}, p = {0.98, -1.96, 0.495};
//    step 2 g' = {0.398, -0.096, -0.3505}, buf = {0.578, -0.456, -0.3055}, p = {0.9222, -1.9144,
//    0.52555}; step 3 buf = {0.51242, -0.60184, -0.022395}, p = {0.870958, -1.854216, 0.5277895}.
//  momentum 0 (buffer null): p -= 0.1 g: {0.99, -1.98, 0.5}, {0.96, -1.99, 0.54}, {0.97, -1.99,
//  0.52}.
void check_sgd_hand(void (*step_fn)(const SgdHyper&, const ParamSlot*, int)) {
  struct Case {
    float momentum, wd;
    float want[3][3];
  };
  const Case cases[] = {
      {0.9f, 0.0f, {{0.99f, -1.98f, 0.5f}, {0.951f, -1.972f, 0.54f}, {0.9259f, -1.9648f, 0.556f}}},
      {0.9f,
       0.1f,
       {{0.98f, -1.96f, 0.495f},
        {0.9222f, -1.9144f, 0.52555f},
        {0.870958f, -1.854216f, 0.5277895f}}},
      {0.0f, 0.0f, {{0.99f, -1.98f, 0.5f}, {0.96f, -1.99f, 0.54f}, {0.97f, -1.99f, 0.52f}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "momentum=" << c.momentum << " weight_decay=" << c.wd);
    std::vector<float> p = kP0, buf(3, 777.0f);  // garbage: step 1 must overwrite it
    for (int s = 0; s < 3; ++s) {
      SgdHyper h;
      h.lr = 0.1f;
      h.momentum = c.momentum;
      h.weight_decay = c.wd;
      h.step = s + 1;
      const ParamSlot slot{p.data(), kGrads[size_t(s)].data(),
                           c.momentum == 0.0f ? nullptr : buf.data(), nullptr, 3};
      step_fn(h, &slot, 1);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(p[size_t(i)], c.want[s][i], 1e-6) << "step " << s + 1 << " element " << i;
      }
    }
  }
}

TEST(Sgd, ReferenceMatchesHandComputedSteps) { check_sgd_hand(sgd_step_ref); }
TEST(Sgd, CpuMatchesHandComputedSteps) { check_sgd_hand(sgd_step_cpu); }

// Many slots of awkward sizes (0, 1, odd, above the OpenMP threshold), three steps each.
struct Slots {
  std::vector<std::vector<float>> p, g, m, v;
  std::vector<ParamSlot> table() {
    std::vector<ParamSlot> t;
    for (size_t i = 0; i < p.size(); ++i) {
      t.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), int64_t(p[i].size())});
    }
    return t;
  }
};
Slots make_slots(uint64_t seed) {
  Slots s;
  const size_t sizes[] = {0, 1, 3, 2047, 2049, 100003, 32, 1, 70001};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    s.p.push_back(random_floats(sizes[i], seed + i));
    s.g.push_back(random_floats(sizes[i], seed + 100 + i, -0.1f, 0.1f));
    s.m.push_back(std::vector<float>(sizes[i], 0.0f));
    s.v.push_back(std::vector<float>(sizes[i], 0.0f));
  }
  return s;
}

// Same float expression in both; only FMA contraction in the vectorised loop can differ: 1e-6
// relative on the parameters, the moments must agree to the same.
TEST(Adam, CpuMatchesReferenceOverManySlots) {
  Slots want = make_slots(500), got = make_slots(500);
  auto tw = want.table(), tg = got.table();
  for (int step = 1; step <= 3; ++step) {
    AdamHyper h;
    h.weight_decay = 0.01f;
    h.step = step;
    adam_step_ref(h, tw.data(), int(tw.size()));
    adam_step_cpu(h, tg.data(), int(tg.size()));
  }
  for (size_t i = 0; i < tw.size(); ++i) {
    EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
    EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-9f, "m " + std::to_string(i)));
    EXPECT_TRUE(all_close(got.v[i], want.v[i], 1e-5f, 1e-12f, "v " + std::to_string(i)));
  }
}

TEST(Sgd, CpuMatchesReferenceOverManySlots) {
  Slots want = make_slots(600), got = make_slots(600);
  auto tw = want.table(), tg = got.table();
  for (int step = 1; step <= 3; ++step) {
    SgdHyper h;
    h.weight_decay = 0.01f;
    h.step = step;
    sgd_step_ref(h, tw.data(), int(tw.size()));
    sgd_step_cpu(h, tg.data(), int(tg.size()));
  }
  for (size_t i = 0; i < tw.size(); ++i) {
    EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
    EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-8f, "buf " + std::to_string(i)));
  }
}

TEST(Optim, RejectsBadArguments) {
  std::vector<float> p(2), g(2), m(2), v(2);
  const ParamSlot good{p.data(), g.data(), m.data(), v.data(), 2};
  auto expect_msg = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "expected std::invalid_argument containing '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  AdamHyper a;
  a.step = 0;
  expect_msg([&] { adam_step_cpu(a, &good, 1); },
             "adam_step_cpu: step must be >= 1 (it counts from 1), got 0");
  a = AdamHyper{};
  a.beta1 = 1.0f;
  expect_msg([&] { adam_step_ref(a, &good, 1); }, "adam_step_ref: beta1 must be in [0, 1), got 1");
  a = AdamHyper{};
  a.beta2 = -0.5f;
  expect_msg([&] { adam_step_cpu(a, &good, 1); }, "beta2 must be in [0, 1), got -0.5");
  a = AdamHyper{};
  a.lr = -1.0f;
  expect_msg([&] { adam_step_cpu(a, &good, 1); }, "lr must be finite and >= 0, got -1");
  a = AdamHyper{};
  a.eps = -1.0f;
  expect_msg([&] { adam_step_cpu(a, &good, 1); }, "eps must be finite and >= 0");
  a = AdamHyper{};
  a.weight_decay = -0.1f;
  expect_msg([&] { adam_step_cpu(a, &good, 1); }, "weight_decay must be finite and >= 0");
  const ParamSlot no_v{p.data(), g.data(), m.data(), nullptr, 2};
  const ParamSlot slots2[] = {good, no_v};
  expect_msg([&] { adam_step_cpu(AdamHyper{}, slots2, 2); },
             "adam_step_cpu: slot 1 (n = 2) has a null param/grad/m/v pointer");
  const ParamSlot negative{p.data(), g.data(), m.data(), v.data(), -4};
  expect_msg([&] { adam_step_cpu(AdamHyper{}, &negative, 1); }, "slot 0 has n = -4");
  expect_msg([&] { adam_step_cpu(AdamHyper{}, nullptr, 3); },
             "slots must not be null when count is 3");
  expect_msg([&] { adam_step_cpu(AdamHyper{}, &good, -1); }, "count must be >= 0, got -1");
  SgdHyper s;
  s.momentum = -0.9f;
  expect_msg([&] { sgd_step_cpu(s, &good, 1); },
             "sgd_step_cpu: momentum must be finite and >= 0, got -0.9");
  const ParamSlot no_m{p.data(), g.data(), nullptr, nullptr, 2};
  expect_msg([&] { sgd_step_ref(SgdHyper{}, &no_m, 1); },
             "sgd_step_ref: slot 0 (n = 2) has a null param/grad/m pointer");
  // An empty slot may have null pointers; momentum 0 needs no buffer.
  const ParamSlot empty{nullptr, nullptr, nullptr, nullptr, 0};
  EXPECT_NO_THROW(adam_step_cpu(AdamHyper{}, &empty, 1));
  s = SgdHyper{};
  s.momentum = 0.0f;
  EXPECT_NO_THROW(sgd_step_cpu(s, &no_m, 1));
}

}  // namespace
}  // namespace unet::kernels
