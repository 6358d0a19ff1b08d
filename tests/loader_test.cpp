// DataLoader: batch contents and order, permutation per epoch, determinism across prefetch/thread
// settings, resume from a saved state, augmentation alignment of image and mask, the allocator
// hook, split by volume and every rejection path.
#include "io/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "tests/testing/testing.h"

using namespace unet::io;

namespace {

using unet::testing::expect_invalid;

constexpr int kH = 9, kW = 7;  // odd, non-square slices

struct Data {
  int64_t s;
  std::vector<float> images;
  std::vector<uint8_t> masks;
  explicit Data(int64_t n) : s(n), images(unet::testing::random_floats(n * kH * kW, 42)) {
    masks.resize(images.size());
    for (size_t i = 0; i < images.size(); ++i) masks[i] = images[i] > 0.3f;
  }
  DataLoader loader(LoaderOptions o, std::vector<int64_t> idx = {}) const {
    return DataLoader(images.data(), masks.data(), s, kH, kW, std::move(idx), std::move(o));
  }
};

// All batches of one epoch, flattened: slices, images, masks.
struct Epoch {
  std::vector<int64_t> slices;
  std::vector<int> sizes;
  std::vector<float> images, masks;
  bool operator==(const Epoch& o) const {
    return slices == o.slices && sizes == o.sizes && images == o.images && masks == o.masks;
  }
};
Epoch run_epoch(DataLoader& l) {
  Epoch e;
  Batch b;
  while (l.next(&b)) {
    e.sizes.push_back(b.n);
    e.slices.insert(e.slices.end(), b.slices, b.slices + b.n);
    e.images.insert(e.images.end(), b.images, b.images + b.n * b.h * b.w);
    e.masks.insert(e.masks.end(), b.masks, b.masks + b.n * b.h * b.w);
  }
  return e;
}

TEST(Loader, SequentialBatchesAreExactCopies) {
  const Data d(23);
  LoaderOptions o;
  o.batch_size = 5;
  o.shuffle = false;
  DataLoader l = d.loader(o);
  EXPECT_EQ(l.batches_per_epoch(), 5);
  const Epoch e = run_epoch(l);
  EXPECT_EQ(e.sizes, (std::vector<int>{5, 5, 5, 5, 3}));
  std::vector<int64_t> want(23);
  for (int i = 0; i < 23; ++i) want[i] = i;
  EXPECT_EQ(e.slices, want);
  EXPECT_EQ(e.images, d.images);
  for (size_t i = 0; i < d.masks.size(); ++i) ASSERT_EQ(e.masks[i], d.masks[i] ? 1.0f : 0.0f);
  // The next epoch starts after the false return.
  EXPECT_EQ(l.get_state().epoch, 1);
  o.drop_last = true;
  DataLoader l2 = d.loader(o, {3, 4, 5, 6, 7, 8, 9});
  const Epoch e2 = run_epoch(l2);
  EXPECT_EQ(e2.sizes, (std::vector<int>{5}));
  EXPECT_EQ(e2.slices, (std::vector<int64_t>{3, 4, 5, 6, 7}));
}

TEST(Loader, ShuffledEpochsArePermutationsThatDiffer) {
  const Data d(40);
  LoaderOptions o;
  o.batch_size = 6;
  o.seed = 7;
  const std::vector<int64_t> idx = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33};
  DataLoader l = d.loader(o, idx);
  const Epoch e0 = run_epoch(l), e1 = run_epoch(l);
  auto sorted = [](std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(e0.slices), idx);
  EXPECT_EQ(sorted(e1.slices), idx);
  EXPECT_NE(e0.slices, e1.slices);
  EXPECT_NE(e0.slices, idx);
  EXPECT_EQ(e0.slices, l.epoch_order(0));
  o.seed = 8;
  DataLoader other = d.loader(o, idx);
  EXPECT_NE(run_epoch(other).slices, e0.slices);
}

TEST(Loader, SameSeedSameBatchesWhateverThePrefetchAndThreads) {
  const Data d(31);
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 123;
  o.augment.enabled = true;
  o.augment.flip_lr_prob = 0.5;
  o.augment.flip_ud_prob = 0.5;
  o.prefetch = 0;
  DataLoader sync = d.loader(o);
  const Epoch a0 = run_epoch(sync), a1 = run_epoch(sync);
  for (auto [prefetch, threads] : {std::pair{1, 1}, {3, 2}, {2, 1}}) {
    o.prefetch = prefetch;
    o.num_threads = threads;
    DataLoader l = d.loader(o);
    EXPECT_TRUE(run_epoch(l) == a0) << prefetch << " " << threads;
    EXPECT_TRUE(run_epoch(l) == a1) << prefetch << " " << threads;
  }
  EXPECT_FALSE(a0 == a1);
}

TEST(Loader, ResumeFromStateContinuesIdentically) {
  const Data d(29);
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 99;
  o.augment.enabled = true;
  DataLoader a = d.loader(o);
  run_epoch(a);
  Batch b;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.next(&b));
  const LoaderState st = a.get_state();
  EXPECT_EQ(st.epoch, 1);
  EXPECT_EQ(st.position, 3);
  const Epoch rest_a = run_epoch(a), next_a = run_epoch(a);

  DataLoader r = d.loader(o);
  ASSERT_TRUE(r.next(&b));  // a fresh loader that already ran ahead is rewound too
  r.set_state(st);
  const Epoch rest_r = run_epoch(r), next_r = run_epoch(r);
  EXPECT_EQ(rest_r.sizes.size(), 5u);  // 8 batches per epoch, 3 done
  EXPECT_TRUE(rest_a == rest_r);
  EXPECT_TRUE(next_a == next_r);
  // Resuming at the very end of an epoch gives the empty remainder, then the next epoch.
  r.set_state({99, 4, 8});
  EXPECT_FALSE(r.next(&b));
  ASSERT_TRUE(r.next(&b));
  EXPECT_EQ(b.epoch, 5);
  EXPECT_EQ(b.index, 0);
}

TEST(Loader, FlipsKeepThresholdMasksExact) {
  // mask = image > t; under flips only (no rotation, zoom or jitter) threshold(aug image) == aug
  // mask.
  AugmentOptions o;
  o.enabled = true;
  o.flip_lr_prob = 0.5;
  o.flip_ud_prob = 0.5;
  o.max_rotate_deg = 0;
  o.scale_min = o.scale_max = 1.0;
  o.intensity_scale = o.intensity_shift = 0;
  int flipped = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto img = unet::testing::random_floats(kH * kW, seed);
    std::vector<float> mask(img.size());
    for (size_t i = 0; i < img.size(); ++i) mask[i] = img[i] > 0.2f;
    const auto orig = img;
    augment_slice(img.data(), mask.data(), kH, kW, o, seed);
    for (size_t i = 0; i < img.size(); ++i) ASSERT_EQ(mask[i], img[i] > 0.2f ? 1.0f : 0.0f);
    auto a = img, b = orig;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);  // a flip only permutes pixels
    flipped += img != orig;
  }
  EXPECT_GT(flipped, 10);  // 3 of 4 seeds flip something
}

TEST(Loader, RotationAndZoomKeepImageAndMaskAligned) {
  // image = mask as 0/1 floats (a disc). Bilinear image and nearest mask of the same transform:
  // where the image is exactly 0 or 1 the mask agrees, and thresholds agree almost everywhere.
  const int h = 33, w = 41;
  AugmentOptions o;
  o.enabled = true;
  o.intensity_scale = o.intensity_shift = 0;
  int changed = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    std::vector<float> img(h * w), mask(h * w);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        img[y * w + x] = mask[y * w + x] =
            (x - 25) * (x - 25) + (y - 14) * (y - 14) < 80 ? 1.f : 0.f;
    const auto before = mask;
    augment_slice(img.data(), mask.data(), h, w, o, seed);
    int agree = 0;
    for (int i = 0; i < h * w; ++i) {
      if (img[i] == 0.0f || img[i] == 1.0f) {
        ASSERT_EQ(mask[i], img[i]) << "seed " << seed;
      }
      agree += (img[i] >= 0.5f) == (mask[i] == 1.0f);
    }
    EXPECT_GE(agree, h * w * 97 / 100);
    changed += mask != before;
  }
  EXPECT_EQ(changed, 10);
}

TEST(Loader, IntensityJitterStaysInRange) {
  AugmentOptions o;
  o.enabled = true;
  o.max_rotate_deg = 0;
  o.scale_min = o.scale_max = 1.0;
  std::vector<float> img(kH * kW, 1.0f), mask(kH * kW, 1.0f);
  augment_slice(img.data(), mask.data(), kH, kW, o, 5);
  // 1 * (1 + a) + b with |a|, |b| <= 0.1, the same for every pixel.
  EXPECT_NE(img[0], 1.0f);
  EXPECT_GE(img[0], 0.8f);
  EXPECT_LE(img[0], 1.2f);
  for (float v : img) EXPECT_EQ(v, img[0]);
}

TEST(Loader, AllocatorHookIsUsed) {
  const Data d(10);
  int allocs = 0, frees = 0;
  size_t last = 0;
  {
    LoaderOptions o;
    o.batch_size = 3;
    o.prefetch = 2;
    o.alloc = [&](size_t bytes) {
      ++allocs;
      last = bytes;
      return ::operator new(bytes);
    };
    o.free = [&](void* p) {
      ++frees;
      ::operator delete(p);
    };
    DataLoader l = d.loader(o);
    run_epoch(l);
    EXPECT_EQ(allocs, 6);  // (prefetch + 1) slots x (images, masks)
    EXPECT_EQ(last, 3u * kH * kW * sizeof(float));
  }
  EXPECT_EQ(frees, 6);
}

TEST(Loader, SplitByVolume) {
  std::vector<int32_t> vos;
  for (int v = 0; v < 10; ++v)
    for (int k = 0; k < 3 + v; ++k) vos.push_back(v);
  const SplitIndices s = split_by_volume(vos, 0.2, 1);
  std::set<int32_t> tv, vv;
  for (int64_t i : s.train) tv.insert(vos[i]);
  for (int64_t i : s.val) vv.insert(vos[i]);
  EXPECT_EQ(vv.size(), 2u);
  EXPECT_EQ(tv.size(), 8u);
  for (int32_t v : vv) EXPECT_EQ(tv.count(v), 0u);
  EXPECT_EQ(s.train.size() + s.val.size(), vos.size());
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  const SplitIndices again = split_by_volume(vos, 0.2, 1);
  EXPECT_EQ(again.val, s.val);
  bool differs = false;
  for (uint64_t seed = 2; seed < 8; ++seed) differs |= split_by_volume(vos, 0.2, seed).val != s.val;
  EXPECT_TRUE(differs);
  EXPECT_EQ(split_by_volume({0, 0, 1}, 0.1, 0).val.size() > 0, true);  // at least one volume
  EXPECT_TRUE(split_by_volume(vos, 0.0, 0).val.empty());
}

TEST(Loader, Rejections) {
  const Data d(5);
  LoaderOptions o;
  o.batch_size = 0;
  expect_invalid([&] { d.loader(o); }, "batch_size must be positive (got 0)");
  o.batch_size = 2;
  expect_invalid([&] { d.loader(o, {1, 5}); }, "slice index 5 out of range for 5 slices");
  o.batch_size = 8;
  o.drop_last = true;
  expect_invalid([&] { d.loader(o); }, "5 slices make no batch of 8 with drop_last");
  o.batch_size = 2;
  o.seed = 3;
  DataLoader l = d.loader(o);
  expect_invalid([&] { l.set_state({4, 0, 0}); }, "saved seed 4 differs from the loader's seed 3");
  expect_invalid([&] { l.set_state({3, 0, 3}); }, "position 3 of epoch 0 is outside the 2 batches");
  expect_invalid([] { split_by_volume({0, 0, 0}, 0.2, 0); }, "1 volume(s) cannot be split");
  expect_invalid([] { split_by_volume({0, 1}, 1.0, 0); }, "must be in [0, 1)");
  expect_invalid([] { split_by_volume({0, -1}, 0.5, 0); }, "negative volume id -1");
}

}  // namespace
