// Axis codes from an affine, the map to the canonical order, and the voxel/geometry remapping.
// Cost: axis codes and maps are O(1); remap_voxels is one pass over the volume (a strided read per
// voxel, sequential writes).
#include "io/orientation.h"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace unet::io {
namespace {

// World axis 0/1/2 (x/y/z of RAS+) and the letter for its positive and negative direction.
constexpr char kPositive[3] = {'R', 'A', 'S'};
constexpr char kNegative[3] = {'L', 'P', 'I'};

// World axis and sign of one code letter; false for anything else.
bool decode(char letter, int* world_axis, int* sign) {
  for (int w = 0; w < 3; ++w) {
    if (letter == kPositive[w] || letter == kNegative[w]) {
      *world_axis = w;
      *sign = letter == kPositive[w] ? 1 : -1;
      return true;
    }
  }
  return false;
}

}  // namespace

bool AxisMap::identity() const {
  for (int a = 0; a < 3; ++a) {
    if (source[a] != a || flip[a]) return false;
  }
  return true;
}

AxisMap AxisMap::inverse() const {
  AxisMap inv;
  for (int a = 0; a < 3; ++a) {
    inv.source[source[a]] = a;
    inv.flip[source[a]] = flip[a];
  }
  return inv;
}

std::string axis_codes(const Affine& m, const std::string& where) {
  // Direction cosines: each voxel axis's column of the 3x3 part, normalised.
  double cosine[3][3];  // [world axis][voxel axis]
  for (int v = 0; v < 3; ++v) {
    const double len = std::sqrt(m[0][v] * m[0][v] + m[1][v] * m[1][v] + m[2][v] * m[2][v]);
    if (!std::isfinite(len) || len == 0) {
      throw std::invalid_argument(where + ": voxel axis " + std::to_string(v) +
                                  " has no direction in the voxel-to-world matrix (zero or not "
                                  "finite); fix the header's qform/sform");
    }
    for (int w = 0; w < 3; ++w) cosine[w][v] = m[w][v] / len;
  }
  // Greedy assignment, largest |cosine| first: for any rotation within 45 degrees of an axis-aligned
  // one this is that one, and it never gives two voxel axes the same world axis.
  std::string codes = "???";
  bool world_used[3] = {false, false, false}, voxel_done[3] = {false, false, false};
  for (int step = 0; step < 3; ++step) {
    int best_w = -1, best_v = -1;
    double best = -1;
    for (int v = 0; v < 3; ++v) {
      for (int w = 0; w < 3; ++w) {
        if (voxel_done[v] || world_used[w]) continue;
        if (std::fabs(cosine[w][v]) > best) {
          best = std::fabs(cosine[w][v]);
          best_w = w;
          best_v = v;
        }
      }
    }
    if (best <= 1e-6) {
      throw std::invalid_argument(where +
                                  ": the voxel-to-world matrix is singular (two voxel axes point "
                                  "the same way); fix the header's qform/sform");
    }
    world_used[best_w] = voxel_done[best_v] = true;
    codes[best_v] = cosine[best_w][best_v] > 0 ? kPositive[best_w] : kNegative[best_w];
  }
  return codes;
}

bool has_orientation(const NiftiGeometry& g) { return g.qform_code > 0 || g.sform_code > 0; }

std::string orientation_name(const NiftiGeometry& g, const std::string& where) {
  return has_orientation(g) ? axis_codes(voxel_to_world(g), where) : std::string("none");
}

AxisMap map_to_canonical(const std::string& codes) {
  if (codes == "none") return AxisMap{};
  int world_of[3], sign_of[3];
  bool seen[3] = {false, false, false};
  bool ok = codes.size() == 3;
  for (int v = 0; ok && v < 3; ++v) {
    ok = decode(codes[v], &world_of[v], &sign_of[v]) && !seen[world_of[v]];
    if (ok) seen[world_of[v]] = true;
  }
  if (!ok) {
    throw std::invalid_argument("orientation '" + codes +
                                "' is not three axis codes (one of R/L, A/P and S/I each) or "
                                "'none'");
  }
  AxisMap map;
  for (int a = 0; a < 3; ++a) {
    int want_world, want_sign;
    decode(kCanonicalAxes[a], &want_world, &want_sign);
    for (int v = 0; v < 3; ++v) {
      if (world_of[v] == want_world) {
        map.source[a] = v;
        map.flip[a] = sign_of[v] != want_sign;
      }
    }
  }
  return map;
}

AxisMap map_to_canonical(const NiftiGeometry& g, const std::string& where) {
  return map_to_canonical(orientation_name(g, where));
}

NiftiGeometry remap_geometry(const NiftiGeometry& g, const AxisMap& map) {
  const int64_t n_in[3] = {g.nx, g.ny, g.nz};
  int64_t n_out[3];
  double spacing[3];
  for (int a = 0; a < 3; ++a) {
    n_out[a] = n_in[map.source[a]];
    spacing[a] = g.spacing[map.source[a]];
  }
  // Input voxel = T * output voxel (homogeneous), so the output's voxel-to-world is A * T.
  double t[4][4] = {{0}};
  t[3][3] = 1;
  for (int a = 0; a < 3; ++a) {
    const int s = map.source[a];
    t[s][a] = map.flip[a] ? -1.0 : 1.0;
    t[s][3] = map.flip[a] ? double(n_in[s] - 1) : 0.0;
  }
  const Affine in = voxel_to_world(g);
  Affine out{};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      double sum = 0;
      for (int k = 0; k < 4; ++k) sum += in[r][k] * t[k][c];
      out[r][c] = sum;
    }
  }
  const int code = g.sform_code > 0 ? g.sform_code : g.qform_code;
  NiftiGeometry r =
      geometry_from_affine(n_out[0], n_out[1], n_out[2], spacing, out, code, g.xyzt_units);
  if (!has_orientation(g)) {
    // Without an orientation only the grid moves: keep "no transform" rather than invent one.
    r.sform_code = r.qform_code = 0;
  }
  return r;
}

template <typename T>
std::vector<T> remap_voxels(const std::vector<T>& in, int64_t nx, int64_t ny, int64_t nz,
                            const AxisMap& map) {
  const int64_t n_in[3] = {nx, ny, nz};
  if (static_cast<int64_t>(in.size()) != nx * ny * nz) {
    throw std::invalid_argument("remap_voxels: " + std::to_string(in.size()) +
                                " voxels do not fill " + std::to_string(nx) + "x" +
                                std::to_string(ny) + "x" + std::to_string(nz));
  }
  if (map.identity()) return in;
  const int64_t stride_in[3] = {1, nx, nx * ny};
  // Walking output axis a moves the input pointer by step[a]; flipped axes start at their end.
  int64_t step[3], n_out[3], start = 0;
  for (int a = 0; a < 3; ++a) {
    const int s = map.source[a];
    n_out[a] = n_in[s];
    step[a] = map.flip[a] ? -stride_in[s] : stride_in[s];
    if (map.flip[a]) start += (n_in[s] - 1) * stride_in[s];
  }
  std::vector<T> out(in.size());
  T* dst = out.data();
  for (int64_t c2 = 0; c2 < n_out[2]; ++c2) {
    for (int64_t c1 = 0; c1 < n_out[1]; ++c1) {
      const T* src = in.data() + start + c2 * step[2] + c1 * step[1];
      for (int64_t c0 = 0; c0 < n_out[0]; ++c0) *dst++ = src[c0 * step[0]];
    }
  }
  return out;
}

template std::vector<float> remap_voxels(const std::vector<float>&, int64_t, int64_t, int64_t,
                                         const AxisMap&);
template std::vector<uint8_t> remap_voxels(const std::vector<uint8_t>&, int64_t, int64_t, int64_t,
                                           const AxisMap&);

CanonicalVolume to_canonical(NiftiVolume stored) {
  const NiftiGeometry& g = stored.geometry;
  CanonicalVolume c;
  c.stored_axes = orientation_name(g, stored.path.empty() ? "volume" : stored.path);
  c.to_canonical = map_to_canonical(c.stored_axes);
  if (c.to_canonical.identity()) {
    c.volume = std::move(stored);
    return c;
  }
  c.volume.path = stored.path;
  c.volume.source_datatype = stored.source_datatype;
  c.volume.warning = stored.warning;
  c.volume.geometry = remap_geometry(g, c.to_canonical);
  c.volume.voxels = remap_voxels(stored.voxels, g.nx, g.ny, g.nz, c.to_canonical);
  return c;
}

}  // namespace unet::io
