// Volume metrics, exact EDT and largest connected component; see metrics3d.h.
#include "io/metrics3d.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace unet::io {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check(int64_t nx, int64_t ny, int64_t nz, const char* op) {
  if (nx <= 0 || ny <= 0 || nz <= 0) {
    throw std::invalid_argument(std::string(op) + ": volume size must be positive, got " +
                                std::to_string(nx) + "x" + std::to_string(ny) + "x" +
                                std::to_string(nz));
  }
}

// 1-D squared distance transform of f (n samples, `step` apart in memory, `sp` mm apart):
// d(p) = min_q ((p - q) * sp)^2 + f(q). Lower envelope of parabolas; infinite f(q) are skipped.
void edt_1d(double* f, int64_t n, int64_t step, double sp, std::vector<double>& d,
            std::vector<int64_t>& v, std::vector<double>& z) {
  int64_t k = -1;
  for (int64_t q = 0; q < n; ++q) {
    const double fq = f[q * step];
    if (fq == kInf) continue;
    const double xq = q * sp;
    double s = -kInf;
    while (k >= 0) {
      const double xv = v[k] * sp;
      s = ((fq + xq * xq) - (f[v[k] * step] + xv * xv)) / (2.0 * (xq - xv));
      if (s <= z[k]) {
        --k;
      } else {
        break;
      }
    }
    ++k;
    v[k] = q;
    z[k] = k == 0 ? -kInf : s;
    z[k + 1] = kInf;
  }
  if (k < 0) return;  // no feature on this line: stays infinite
  int64_t j = 0;
  for (int64_t p = 0; p < n; ++p) {
    const double xp = p * sp;
    while (z[j + 1] < xp) ++j;
    const double dx = xp - v[j] * sp;
    d[p] = dx * dx + f[v[j] * step];
  }
  for (int64_t p = 0; p < n; ++p) f[p * step] = d[p];
}

}  // namespace

std::vector<uint8_t> surface_voxels(const uint8_t* m, int64_t nx, int64_t ny, int64_t nz) {
  check(nx, ny, nz, "surface_voxels");
  std::vector<uint8_t> s(static_cast<size_t>(nx * ny * nz), 0);
  auto in = [&](int64_t i, int64_t j, int64_t k) {
    return i >= 0 && i < nx && j >= 0 && j < ny && k >= 0 && k < nz && m[i + nx * (j + ny * k)];
  };
  for (int64_t k = 0; k < nz; ++k)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t i = 0; i < nx; ++i) {
        if (in(i, j, k) && (!in(i - 1, j, k) || !in(i + 1, j, k) || !in(i, j - 1, k) ||
                            !in(i, j + 1, k) || !in(i, j, k - 1) || !in(i, j, k + 1))) {
          s[i + nx * (j + ny * k)] = 1;
        }
      }
  return s;
}

std::vector<double> squared_distance_transform(const uint8_t* features, int64_t nx, int64_t ny,
                                               int64_t nz, const double spacing[3]) {
  check(nx, ny, nz, "squared_distance_transform");
  const size_t n = static_cast<size_t>(nx * ny * nz);
  std::vector<double> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = features[i] ? 0.0 : kInf;
  const int64_t longest = std::max({nx, ny, nz});
  std::vector<double> d(longest), z(longest + 1);
  std::vector<int64_t> v(longest);
  for (int64_t k = 0; k < nz; ++k)
    for (int64_t j = 0; j < ny; ++j) edt_1d(&f[nx * (j + ny * k)], nx, 1, spacing[0], d, v, z);
  for (int64_t k = 0; k < nz; ++k)
    for (int64_t i = 0; i < nx; ++i) edt_1d(&f[i + nx * ny * k], ny, nx, spacing[1], d, v, z);
  for (int64_t j = 0; j < ny; ++j)
    for (int64_t i = 0; i < nx; ++i) edt_1d(&f[i + nx * j], nz, nx * ny, spacing[2], d, v, z);
  return f;
}

VolumeMetrics volume_metrics(const uint8_t* pred, const uint8_t* truth, int64_t nx, int64_t ny,
                             int64_t nz, const double spacing[3]) {
  check(nx, ny, nz, "volume_metrics");
  const size_t n = static_cast<size_t>(nx * ny * nz);
  VolumeMetrics m;
  for (size_t i = 0; i < n; ++i) {
    const bool p = pred[i] != 0, t = truth[i] != 0;
    m.pred_voxels += p;
    m.truth_voxels += t;
    m.intersection += p && t;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t uni = m.pred_voxels + m.truth_voxels - m.intersection;
  if (uni == 0) {
    m.dice = 1;
    m.voe = m.rvd = m.asd = m.msd = 0;
    return m;
  }
  m.dice = 2.0 * m.intersection / static_cast<double>(m.pred_voxels + m.truth_voxels);
  m.voe = 1.0 - m.intersection / static_cast<double>(uni);
  m.rvd =
      m.truth_voxels ? (m.pred_voxels - m.truth_voxels) / static_cast<double>(m.truth_voxels) : nan;
  if (m.pred_voxels == 0 || m.truth_voxels == 0) {
    m.asd = m.msd = nan;
    return m;
  }
  const auto sp = surface_voxels(pred, nx, ny, nz);
  const auto st = surface_voxels(truth, nx, ny, nz);
  const auto dp = squared_distance_transform(sp.data(), nx, ny, nz, spacing);
  const auto dt = squared_distance_transform(st.data(), nx, ny, nz, spacing);
  double sum = 0, mx = 0;
  int64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (sp[i]) {
      const double d = std::sqrt(dt[i]);
      sum += d;
      mx = std::max(mx, d);
      ++count;
    }
    if (st[i]) {
      const double d = std::sqrt(dp[i]);
      sum += d;
      mx = std::max(mx, d);
      ++count;
    }
  }
  m.asd = sum / static_cast<double>(count);
  m.msd = mx;
  return m;
}

int64_t keep_largest_component(uint8_t* mask, int64_t nx, int64_t ny, int64_t nz) {
  check(nx, ny, nz, "keep_largest_component");
  const int64_t n = nx * ny * nz;
  std::vector<int32_t> label(static_cast<size_t>(n), 0);
  std::vector<int64_t> stack;
  int32_t labels = 0, best = 0;
  int64_t best_size = 0;
  for (int64_t s = 0; s < n; ++s) {
    if (!mask[s] || label[s]) continue;
    const int32_t id = ++labels;
    int64_t size = 0;
    label[s] = id;
    stack.push_back(s);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++size;
      const int64_t i = p % nx, j = (p / nx) % ny, k = p / (nx * ny);
      const int64_t nb[6] = {i > 0 ? p - 1 : -1,       i + 1 < nx ? p + 1 : -1,
                             j > 0 ? p - nx : -1,      j + 1 < ny ? p + nx : -1,
                             k > 0 ? p - nx * ny : -1, k + 1 < nz ? p + nx * ny : -1};
      for (int64_t q : nb) {
        if (q >= 0 && mask[q] && !label[q]) {
          label[q] = id;
          stack.push_back(q);
        }
      }
    }
    if (size > best_size) {
      best_size = size;
      best = id;
    }
  }
  for (int64_t p = 0; p < n; ++p) mask[p] = label[p] != 0 && label[p] == best;
  return labels;
}

}  // namespace unet::io
