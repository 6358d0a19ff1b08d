// optim CUDA tests: the fused multi-tensor Adam and SGD against hand-computed steps and against the
// CPU reference over 70 slots (two launches) of awkward sizes (0, 1, chunk +- 1, large), and
// bitwise determinism. Skipped without a device.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/optim/optim.h"
#include "tests/testing/cuda_guard.h"
#include "tests/testing/testing.h"

namespace unet::kernels {
namespace {

using ::unet::testing::all_close;
using ::unet::testing::DeviceBuffer;
using ::unet::testing::random_floats;

struct HostSlots {
  std::vector<std::vector<float>> p, g, m, v;
  std::vector<ParamSlot> table() {
    std::vector<ParamSlot> t;
    for (size_t i = 0; i < p.size(); ++i) {
      t.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), int64_t(p[i].size())});
    }
    return t;
  }
};

// Device copies of HostSlots; `table` holds device pointers (null for empty tensors).
struct DeviceSlots {
  std::vector<std::unique_ptr<DeviceBuffer<float>>> p, g, m, v;
  std::vector<ParamSlot> table;
  explicit DeviceSlots(const HostSlots& h) {
    for (size_t i = 0; i < h.p.size(); ++i) {
      p.push_back(std::make_unique<DeviceBuffer<float>>(h.p[i]));
      g.push_back(std::make_unique<DeviceBuffer<float>>(h.g[i]));
      m.push_back(std::make_unique<DeviceBuffer<float>>(h.m[i]));
      v.push_back(std::make_unique<DeviceBuffer<float>>(h.v[i]));
      table.push_back({p[i]->get(), g[i]->get(), m[i]->get(), v[i]->get(), int64_t(h.p[i].size())});
    }
  }
  HostSlots to_host() const {
    HostSlots h;
    for (size_t i = 0; i < p.size(); ++i) {
      h.p.push_back(p[i]->to_host());
      h.g.push_back(g[i]->to_host());
      h.m.push_back(m[i]->to_host());
      h.v.push_back(v[i]->to_host());
    }
    return h;
  }
};

HostSlots make_slots(uint64_t seed, int count) {
  HostSlots s;
  const size_t sizes[] = {0, 1, 3, 2047, 2048, 2049, 100003, 32, 864, 294912};
  for (int i = 0; i < count; ++i) {
    const size_t n = sizes[size_t(i) % (sizeof(sizes) / sizeof(sizes[0]))];
    s.p.push_back(random_floats(n, seed + uint64_t(i)));
    s.g.push_back(random_floats(n, seed + 1000 + uint64_t(i), -0.1f, 0.1f));
    s.m.push_back(random_floats(n, seed + 2000 + uint64_t(i), -0.01f, 0.01f));
    s.v.push_back(random_floats(n, seed + 3000 + uint64_t(i), 0.0f, 0.001f));
  }
  return s;
}

// The hand example of optim_test.cpp (arithmetic written out there): p0 = {1, -2, 0.5}.
const std::vector<std::vector<float>> kGrads = {
    {0.1f, -0.2f, 0.0f}, {0.3f, 0.1f, -0.4f}, {-0.1f, 0.0f, 0.2f}};

TEST(AdamCuda, MatchesHandComputedSteps) {
  UNET_REQUIRE_CUDA();
  const float want[2][3][3] = {{{0.9f, -1.9f, 0.5f},
                                {0.8082219f, -1.8733663f, 0.5744137f},
                                {0.7598527f, -1.8527784f, 0.5972777f}},
                               {{0.9f, -1.9f, 0.4f},
                                {0.8032148f, -1.8182876f, 0.4644935f},
                                {0.7313419f, -1.7346373f, 0.4698852f}}};
  for (int w = 0; w < 2; ++w) {
    DeviceBuffer<float> p(std::vector<float>{1.0f, -2.0f, 0.5f}), m(std::vector<float>(3, 0.0f)),
        v(std::vector<float>(3, 0.0f));
    for (int s = 0; s < 3; ++s) {
      DeviceBuffer<float> g(kGrads[size_t(s)]);
      AdamHyper h;
      h.lr = 0.1f;
      h.weight_decay = w == 0 ? 0.0f : 0.1f;
      h.step = s + 1;
      const ParamSlot slot{p.get(), g.get(), m.get(), v.get(), 3};
      adam_step_cuda(h, &slot, 1, nullptr);
      const auto ph = p.to_host();
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(ph[size_t(i)], want[w][s][i], 1e-6)
            << "wd " << w << " step " << s + 1 << " i " << i;
      }
    }
  }
}

TEST(SgdCuda, MatchesHandComputedSteps) {
  UNET_REQUIRE_CUDA();
  // momentum 0.9, weight decay 0 and 0.1 (see optim_test.cpp).
  const float want[2][3][3] = {
      {{0.99f, -1.98f, 0.5f}, {0.951f, -1.972f, 0.54f}, {0.9259f, -1.9648f, 0.556f}},
      {{0.98f, -1.96f, 0.495f},
       {0.9222f, -1.9144f, 0.52555f},
       {0.870958f, -1.854216f, 0.5277895f}}};
  for (int w = 0; w < 2; ++w) {
    DeviceBuffer<float> p(std::vector<float>{1.0f, -2.0f, 0.5f}),
        buf(std::vector<float>(3, 777.0f));
    for (int s = 0; s < 3; ++s) {
      DeviceBuffer<float> g(kGrads[size_t(s)]);
      SgdHyper h;
      h.lr = 0.1f;
      h.weight_decay = w == 0 ? 0.0f : 0.1f;
      h.step = s + 1;
      const ParamSlot slot{p.get(), g.get(), buf.get(), nullptr, 3};
      sgd_step_cuda(h, &slot, 1, nullptr);
      const auto ph = p.to_host();
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(ph[size_t(i)], want[w][s][i], 1e-6)
            << "wd " << w << " step " << s + 1 << " i " << i;
      }
    }
  }
}

// Same float expression as the reference; nvcc may contract multiply-adds into FMAs, so a few ulp:
// parameters rtol 1e-6 (atol 1e-7), moments rtol 1e-5 (tiny atol for values near 0).
TEST(AdamCuda, MatchesReferenceOverManySlots) {
  UNET_REQUIRE_CUDA();
  HostSlots want = make_slots(900, 70);
  DeviceSlots dev(want);
  auto tw = want.table();
  for (int step = 1; step <= 3; ++step) {
    AdamHyper h;
    h.weight_decay = 0.01f;
    h.step = step;
    adam_step_ref(h, tw.data(), int(tw.size()));
    adam_step_cuda(h, dev.table.data(), int(dev.table.size()), nullptr);
  }
  const HostSlots got = dev.to_host();
  for (size_t i = 0; i < tw.size(); ++i) {
    EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
    EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-9f, "m " + std::to_string(i)));
    EXPECT_TRUE(all_close(got.v[i], want.v[i], 1e-5f, 1e-12f, "v " + std::to_string(i)));
  }
}

TEST(SgdCuda, MatchesReferenceOverManySlots) {
  UNET_REQUIRE_CUDA();
  for (float momentum : {0.9f, 0.0f}) {
    SCOPED_TRACE(::testing::Message() << "momentum=" << momentum);
    HostSlots want = make_slots(950, 70);
    DeviceSlots dev(want);
    auto tw = want.table();
    for (int step = 1; step <= 3; ++step) {
      SgdHyper h;
      h.momentum = momentum;
      h.weight_decay = 0.01f;
      h.step = step;
      sgd_step_ref(h, tw.data(), int(tw.size()));
      sgd_step_cuda(h, dev.table.data(), int(dev.table.size()), nullptr);
    }
    const HostSlots got = dev.to_host();
    for (size_t i = 0; i < tw.size(); ++i) {
      EXPECT_TRUE(all_close(got.p[i], want.p[i], 1e-6f, 1e-7f, "param " + std::to_string(i)));
      EXPECT_TRUE(all_close(got.m[i], want.m[i], 1e-5f, 1e-8f, "buf " + std::to_string(i)));
    }
  }
}

TEST(AdamCuda, BitwiseDeterministic) {
  UNET_REQUIRE_CUDA();
  const HostSlots start = make_slots(990, 20);
  HostSlots out[2];
  for (int r = 0; r < 2; ++r) {
    DeviceSlots dev(start);
    for (int step = 1; step <= 2; ++step) {
      AdamHyper h;
      h.step = step;
      adam_step_cuda(h, dev.table.data(), int(dev.table.size()), nullptr);
    }
    out[r] = dev.to_host();
  }
  for (size_t i = 0; i < start.p.size(); ++i) {
    EXPECT_TRUE(::unet::testing::bitwise_equal(out[0].p[i], out[1].p[i], "param"));
  }
}

}  // namespace
}  // namespace unet::kernels
