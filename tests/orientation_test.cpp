// io/orientation: axis codes from affines, the map to the canonical LPS order, voxel and geometry
// remapping, and the property the workflow relies on: the same volume stored in any of the 48 voxel
// orders (axis permutations times flips), written to a NIfTI file and read back, comes back to
// bitwise the same canonical voxels on the same world grid.
#include "io/orientation.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"

namespace unet::io {
namespace {

using unet::testing::TempDir;

// Every permutation of (0, 1, 2) with every combination of flips: the 48 voxel orders.
std::vector<AxisMap> all_axis_maps() {
  std::vector<AxisMap> maps;
  const std::array<std::array<int, 3>, 6> perms = {
      {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}};
  for (const auto& p : perms) {
    for (int f = 0; f < 8; ++f) {
      AxisMap m;
      m.source = p;
      m.flip = {(f & 1) != 0, (f & 2) != 0, (f & 4) != 0};
      maps.push_back(m);
    }
  }
  return maps;
}

std::string describe(const AxisMap& m) {
  std::string s;
  for (int a = 0; a < 3; ++a) s += (m.flip[a] ? "-" : "+") + std::to_string(m.source[a]) + " ";
  return s;
}

// World position (mm) of voxel (i, j, k) under an affine.
std::array<double, 3> world(const Affine& a, double i, double j, double k) {
  std::array<double, 3> w{};
  for (int r = 0; r < 3; ++r) w[r] = a[r][0] * i + a[r][1] * j + a[r][2] * k + a[r][3];
  return w;
}

Affine diagonal(double x, double y, double z) {
  Affine a{};
  a[0][0] = x;
  a[1][1] = y;
  a[2][2] = z;
  a[3][3] = 1;
  return a;
}

TEST(AxisCodes, AxisAlignedAffines) {
  EXPECT_EQ(axis_codes(diagonal(-0.7, -0.7, 2.5), "t"), "LPS");
  EXPECT_EQ(axis_codes(diagonal(0.7, 0.7, 2.5), "t"), "RAS");
  EXPECT_EQ(axis_codes(diagonal(1, -1, -1), "t"), "RPI");
  // Voxel axis 0 along world z, 1 along -x, 2 along y.
  Affine a{};
  a[2][0] = 3;
  a[0][1] = -1;
  a[1][2] = 1;
  a[3][3] = 1;
  EXPECT_EQ(axis_codes(a, "t"), "SLA");
  EXPECT_EQ(axis_codes(voxel_to_world(make_geometry(4, 5, 6, 0.8, 0.8, 2)), "t"), kCanonicalAxes);
}

TEST(AxisCodes, ObliqueAffineTakesTheClosestAxes) {
  // 30 degrees about z from RAS: still closest to R, A, S. 60 degrees: axis 0 = (0.5, 0.87, 0) is
  // closer to A, axis 1 = (-0.87, 0.5, 0) to L.
  for (const auto& [degrees, expected] : {std::pair{30.0, "RAS"}, std::pair{60.0, "ALS"}}) {
    const double t = degrees * M_PI / 180;
    Affine a{};
    a[0][0] = std::cos(t);
    a[1][0] = std::sin(t);
    a[0][1] = -std::sin(t);
    a[1][1] = std::cos(t);
    a[2][2] = 1;
    a[3][3] = 1;
    EXPECT_EQ(axis_codes(a, "t"), expected) << degrees << " degrees";
  }
}

TEST(AxisCodes, SingularAndNonFiniteAffinesAreRefused) {
  Affine zero_column = diagonal(1, 0, 1);
  testing::expect_invalid([&] { axis_codes(zero_column, "vol.nii"); },
                          {"vol.nii: voxel axis 1 has no direction", "qform/sform"});
  Affine parallel = diagonal(1, 1, 1);
  parallel[0][1] = 1;  // axis 1 = (1, 1, 0)/sqrt(2) ...
  parallel[1][1] = 0;  // ... now (1, 0, 0): the same direction as axis 0
  testing::expect_invalid([&] { axis_codes(parallel, "vol.nii"); }, "singular");
  Affine nan = diagonal(1, 1, 1);
  nan[2][2] = std::nan("");
  testing::expect_invalid([&] { axis_codes(nan, "vol.nii"); }, "no direction");
}

TEST(MapToCanonical, FromCodes) {
  EXPECT_TRUE(map_to_canonical("LPS").identity());
  EXPECT_TRUE(map_to_canonical("none").identity());
  const AxisMap ras = map_to_canonical("RAS");
  EXPECT_EQ(ras.source, (std::array<int, 3>{0, 1, 2}));
  EXPECT_EQ(ras.flip, (std::array<bool, 3>{true, true, false}));
  // Stored S, R, P: canonical L is stored axis 1 reversed, P is axis 2, S is axis 0.
  const AxisMap srp = map_to_canonical("SRP");
  EXPECT_EQ(srp.source, (std::array<int, 3>{1, 2, 0}));
  EXPECT_EQ(srp.flip, (std::array<bool, 3>{true, false, false}));
  for (const char* bad : {"", "LP", "LPSX", "LLS", "LRS", "XYZ", "lps"}) {
    testing::expect_invalid([&] { map_to_canonical(std::string(bad)); }, "is not three axis codes");
  }
}

TEST(AxisMapTest, InverseUndoesEveryMap) {
  const int64_t nx = 5, ny = 4, nz = 3;
  const std::vector<float> v = testing::random_floats(nx * ny * nz, 3, -1, 1);
  std::set<std::vector<float>> distinct;
  for (const AxisMap& m : all_axis_maps()) {
    const std::array<int64_t, 3> n_in = {nx, ny, nz};
    const std::vector<float> out = remap_voxels(v, nx, ny, nz, m);
    distinct.insert(out);
    const std::vector<float> back =
        remap_voxels(out, n_in[m.source[0]], n_in[m.source[1]], n_in[m.source[2]], m.inverse());
    EXPECT_EQ(back, v) << describe(m);
    EXPECT_EQ(m.identity(), out == v) << describe(m);
  }
  EXPECT_EQ(distinct.size(), 48u) << "the 48 maps must give 48 different voxel orders";
}

TEST(AxisMapTest, RemapVoxelsFollowsTheDefinition) {
  // Output voxel c is input voxel s with s[source[a]] = flip[a] ? n - 1 - c[a] : c[a].
  const int64_t n_in[3] = {4, 3, 2};
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  for (const AxisMap& m : all_axis_maps()) {
    const std::vector<float> out = remap_voxels(v, n_in[0], n_in[1], n_in[2], m);
    const int64_t n_out[3] = {n_in[m.source[0]], n_in[m.source[1]], n_in[m.source[2]]};
    for (int64_t c2 = 0; c2 < n_out[2]; ++c2) {
      for (int64_t c1 = 0; c1 < n_out[1]; ++c1) {
        for (int64_t c0 = 0; c0 < n_out[0]; ++c0) {
          const int64_t c[3] = {c0, c1, c2};
          int64_t s[3];
          for (int a = 0; a < 3; ++a) {
            s[m.source[a]] = m.flip[a] ? n_in[m.source[a]] - 1 - c[a] : c[a];
          }
          ASSERT_EQ(out[c0 + n_out[0] * (c1 + n_out[1] * c2)],
                    v[s[0] + n_in[0] * (s[1] + n_in[1] * s[2])])
              << describe(m);
        }
      }
    }
  }
  testing::expect_invalid([&] { remap_voxels(v, 4, 3, 3, AxisMap{}); }, "do not fill");
}

// The heart of it: one anatomy (a canonical LPS volume on a non-cubic grid with anisotropic
// spacing) stored in each of the 48 orders, with the affine that keeps every voxel's world
// position, written to .nii.gz and read back, returns to the same canonical voxels and grid.
TEST(ToCanonical, All48StoredOrdersComeBackToTheSameVolume) {
  TempDir dir;
  const NiftiGeometry canonical = make_geometry(7, 5, 3, 0.7, 0.8, 2.5);
  const std::vector<float> voxels = testing::random_floats(7 * 5 * 3, 11, -1000, 1000);
  std::vector<float> rounded(voxels.size());  // float32 on disk: exact
  for (size_t i = 0; i < voxels.size(); ++i) rounded[i] = std::round(voxels[i]);
  const Affine a_canonical = voxel_to_world(canonical);
  std::set<std::string> codes_seen;
  int file_index = 0;
  for (const AxisMap& m : all_axis_maps()) {
    SCOPED_TRACE(describe(m));
    // The stored order: m takes the canonical order to it.
    const NiftiGeometry stored_g = remap_geometry(canonical, m);
    const std::vector<float> stored_v = remap_voxels(rounded, 7, 5, 3, m);
    // Independent check of the geometry: each stored voxel sits where its canonical voxel does.
    const Affine a_stored = voxel_to_world(stored_g);
    const int64_t n_c[3] = {7, 5, 3};
    for (int64_t corner = 0; corner < 8; ++corner) {
      const int64_t c[3] = {corner & 1 ? n_c[m.source[0]] - 1 : 0,
                            corner & 2 ? n_c[m.source[1]] - 1 : 0,
                            corner & 4 ? n_c[m.source[2]] - 1 : 0};
      int64_t s[3];
      for (int ax = 0; ax < 3; ++ax)
        s[m.source[ax]] = m.flip[ax] ? n_c[m.source[ax]] - 1 - c[ax] : c[ax];
      const auto w_stored = world(a_stored, double(c[0]), double(c[1]), double(c[2]));
      const auto w_canon = world(a_canonical, double(s[0]), double(s[1]), double(s[2]));
      for (int r = 0; r < 3; ++r) ASSERT_NEAR(w_stored[r], w_canon[r], 1e-9);
    }
    const std::string path = dir.file("v" + std::to_string(file_index++) + ".nii.gz");
    write_nifti(path, stored_g, stored_v, 16 /* NIFTI_TYPE_FLOAT32 */);
    const NiftiVolume read = read_nifti(path);
    codes_seen.insert(orientation_name(read.geometry, path));
    const CanonicalVolume back = to_canonical(read);
    EXPECT_EQ(back.volume.voxels, rounded);
    std::string why;
    EXPECT_TRUE(same_grid(back.volume.geometry, canonical, &why)) << why;
    EXPECT_EQ(back.to_canonical.inverse().source, m.source);
    EXPECT_EQ(back.to_canonical.inverse().flip, m.flip);
  }
  EXPECT_EQ(codes_seen.size(), 48u);
}

TEST(ToCanonical, NoOrientationKeepsTheStoredOrder) {
  NiftiVolume v;
  v.geometry = make_geometry(3, 2, 2, 1, 1, 1);
  v.geometry.qform_code = v.geometry.sform_code = 0;
  v.voxels = testing::random_floats(12, 5, 0, 1);
  const CanonicalVolume c = to_canonical(v);
  EXPECT_EQ(c.stored_axes, "none");
  EXPECT_TRUE(c.to_canonical.identity());
  EXPECT_EQ(c.volume.voxels, v.voxels);
}

TEST(ToCanonical, CanonicalInputIsUnchanged) {
  NiftiVolume v;
  v.geometry = make_geometry(3, 2, 2, 1, 1, 1);
  v.voxels = testing::random_floats(12, 6, 0, 1);
  const CanonicalVolume c = to_canonical(v);
  EXPECT_EQ(c.stored_axes, "LPS");
  EXPECT_EQ(c.volume.voxels, v.voxels);
  EXPECT_EQ(voxel_to_world(c.volume.geometry), voxel_to_world(v.geometry));
}

}  // namespace
}  // namespace unet::io
