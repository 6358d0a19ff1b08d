// 3-D metrics against hand-computed cases (two cubes offset by one voxel along each axis with
// anisotropic spacing), the exact EDT against brute force on awkward shapes, empty-mask conventions
// and the largest connected component.
#include "io/metrics3d.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/testing/testing.h"

using namespace unet::io;

namespace {

struct Vol {
  int64_t nx, ny, nz;
  std::vector<uint8_t> v;
  Vol(int64_t x, int64_t y, int64_t z) : nx(x), ny(y), nz(z), v(x * y * z, 0) {}
  uint8_t& at(int64_t i, int64_t j, int64_t k) { return v[i + nx * (j + ny * k)]; }
  void box(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k0, int64_t k1) {
    for (int64_t k = k0; k <= k1; ++k)
      for (int64_t j = j0; j <= j1; ++j)
        for (int64_t i = i0; i <= i1; ++i) at(i, j, k) = 1;
  }
};

TEST(Metrics3d, TwoCubesOffsetByOneVoxelPerAxis) {
  // A = [2,4]^3, B = A shifted by one voxel along axis a. Each 3x3x3 cube has 26 surface voxels
  // (all but the centre). By hand, on each side: the 9 voxels of the face that is not shared are
  // spacing[a] mm from the other surface; the one surface voxel that sits on the other cube's
  // centre (not a surface voxel) is one voxel from that centre's neighbours, the nearest being
  // along the axis with the smallest spacing (0.5 mm); the other 16 lie on the other surface. So
  // ASD = 2 * (9 * spacing[a] + 0.5) / 52, MSD = spacing[a];
  // Dice = 2*18/54, VOE = 1 - 18/36, RVD = 0.
  const double spacing[3] = {0.5, 1.0, 2.5};
  for (int axis = 0; axis < 3; ++axis) {
    Vol a(8, 7, 9), b(8, 7, 9);
    a.box(2, 4, 2, 4, 2, 4);
    const int64_t d[3] = {axis == 0, axis == 1, axis == 2};
    b.box(2 + d[0], 4 + d[0], 2 + d[1], 4 + d[1], 2 + d[2], 4 + d[2]);
    const VolumeMetrics m = volume_metrics(a.v.data(), b.v.data(), 8, 7, 9, spacing);
    EXPECT_EQ(m.intersection, 18);
    EXPECT_NEAR(m.dice, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(m.voe, 0.5, 1e-12);
    EXPECT_NEAR(m.rvd, 0.0, 1e-12);
    EXPECT_NEAR(m.asd, 2.0 * (9.0 * spacing[axis] + 0.5) / 52.0, 1e-12) << "axis " << axis;
    EXPECT_NEAR(m.msd, spacing[axis], 1e-12) << "axis " << axis;
  }
}

TEST(Metrics3d, DiagonalOffsetAndRvd) {
  // P = single voxel at (1,1,1); T = 2 voxels (1,1,1),(2,2,2) are not 6-connected but both surface.
  // Distances: P->T 0; T->P: (1,1,1) 0, (2,2,2) sqrt(0.5^2 + 1^2 + 2.5^2). MSD is that, ASD = it
  // / 3.
  const double spacing[3] = {0.5, 1.0, 2.5};
  Vol p(4, 4, 4), t(4, 4, 4);
  p.at(1, 1, 1) = 1;
  t.at(1, 1, 1) = t.at(2, 2, 2) = 1;
  const VolumeMetrics m = volume_metrics(p.v.data(), t.v.data(), 4, 4, 4, spacing);
  const double far = std::sqrt(0.25 + 1.0 + 6.25);
  EXPECT_NEAR(m.msd, far, 1e-12);
  EXPECT_NEAR(m.asd, far / 3.0, 1e-12);
  EXPECT_NEAR(m.rvd, -0.5, 1e-12);
  EXPECT_NEAR(m.dice, 2.0 / 3.0, 1e-12);
}

TEST(Metrics3d, EmptyMaskConventions) {
  const double spacing[3] = {1, 1, 1};
  Vol e(3, 4, 5), f(3, 4, 5);
  f.at(1, 1, 1) = 1;
  VolumeMetrics m = volume_metrics(e.v.data(), e.v.data(), 3, 4, 5, spacing);
  EXPECT_EQ(m.dice, 1.0);
  EXPECT_EQ(m.voe, 0.0);
  EXPECT_EQ(m.asd, 0.0);
  EXPECT_EQ(m.msd, 0.0);
  m = volume_metrics(e.v.data(), f.v.data(), 3, 4, 5, spacing);  // nothing predicted
  EXPECT_EQ(m.dice, 0.0);
  EXPECT_EQ(m.voe, 1.0);
  EXPECT_EQ(m.rvd, -1.0);
  EXPECT_TRUE(std::isnan(m.asd));
  EXPECT_TRUE(std::isnan(m.msd));
  m = volume_metrics(f.v.data(), e.v.data(), 3, 4, 5, spacing);  // nothing to find
  EXPECT_EQ(m.dice, 0.0);
  EXPECT_TRUE(std::isnan(m.rvd));
  EXPECT_TRUE(std::isnan(m.msd));
  m = volume_metrics(f.v.data(), f.v.data(), 3, 4, 5, spacing);
  EXPECT_EQ(m.dice, 1.0);
  EXPECT_EQ(m.msd, 0.0);
  unet::testing::expect_invalid([&] { volume_metrics(f.v.data(), f.v.data(), 0, 4, 5, spacing); },
                                "volume_metrics: volume size must be positive, got 0x4x5");
}

TEST(Metrics3d, DistanceTransformMatchesBruteForce) {
  // Awkward shapes, anisotropic spacing, sparse random features. Exact up to double rounding.
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 1, 1}, {1, 5, 3}, {6, 5, 4}, {9, 2, 7}};
  const double spacing[3] = {0.7, 1.3, 2.1};
  uint64_t seed = 1;
  for (auto& s : shapes) {
    const int64_t n = s[0] * s[1] * s[2];
    const auto r = unet::testing::random_floats(n, seed++, 0, 1);
    std::vector<uint8_t> feat(n);
    for (int64_t i = 0; i < n; ++i) feat[i] = r[i] < 0.15f;
    feat[n / 2] = 1;
    const auto d = squared_distance_transform(feat.data(), s[0], s[1], s[2], spacing);
    for (int64_t p = 0; p < n; ++p) {
      double best = std::numeric_limits<double>::infinity();
      for (int64_t q = 0; q < n; ++q) {
        if (!feat[q]) continue;
        const double dx = (p % s[0] - q % s[0]) * spacing[0];
        const double dy = ((p / s[0]) % s[1] - (q / s[0]) % s[1]) * spacing[1];
        const double dz = (p / (s[0] * s[1]) - q / (s[0] * s[1])) * spacing[2];
        best = std::min(best, dx * dx + dy * dy + dz * dz);
      }
      ASSERT_NEAR(d[p], best, 1e-9 * (1 + best)) << "voxel " << p;
    }
  }
  std::vector<uint8_t> none(12, 0);
  for (double v : squared_distance_transform(none.data(), 3, 2, 2, spacing))
    EXPECT_TRUE(std::isinf(v));
}

TEST(Metrics3d, SurfaceVoxels) {
  Vol a(5, 5, 5);
  a.box(1, 3, 1, 3, 1, 3);
  const auto s = surface_voxels(a.v.data(), 5, 5, 5);
  int count = 0;
  for (uint8_t x : s) count += x;
  EXPECT_EQ(count, 26);
  EXPECT_EQ(s[2 + 5 * (2 + 5 * 2)], 0);
  Vol full(2, 2, 2);
  full.box(0, 1, 0, 1, 0, 1);  // touching the grid edge: all surface
  for (uint8_t x : surface_voxels(full.v.data(), 2, 2, 2)) EXPECT_EQ(x, 1);
}

TEST(Metrics3d, LargestComponentSixConnected) {
  Vol a(6, 5, 4);
  a.box(0, 1, 0, 1, 0, 1);  // 8 voxels
  a.box(3, 5, 2, 4, 2, 3);  // 18 voxels, touches the first only diagonally? (no: gap at i = 2)
  a.at(2, 2, 2) = 1;        // joins nothing 6-wise: (1,1,1) is diagonal, (3,2,2) is 6-adjacent
  a.at(0, 4, 3) = 1;        // isolated
  Vol want = a;
  for (auto& v : want.v) v = 0;
  want.box(3, 5, 2, 4, 2, 3);
  want.at(2, 2, 2) = 1;
  EXPECT_EQ(keep_largest_component(a.v.data(), 6, 5, 4), 3);
  EXPECT_EQ(a.v, want.v);
  // Diagonal-only neighbours are separate components; ties keep the first (lowest index).
  Vol d(3, 3, 1);
  d.at(0, 0, 0) = d.at(1, 1, 0) = 1;
  EXPECT_EQ(keep_largest_component(d.v.data(), 3, 3, 1), 2);
  EXPECT_EQ(d.at(0, 0, 0), 1);
  EXPECT_EQ(d.at(1, 1, 0), 0);
  Vol e(2, 2, 2);
  EXPECT_EQ(keep_largest_component(e.v.data(), 2, 2, 2), 0);
}

}  // namespace
