// Rendering one slice of a drawn case into Hounsfield units and tissue labels, and the in-plane
// partial-volume blur.
#include <algorithm>
#include <cmath>

#include "phantom/phantom_model.h"

namespace unet::phantom::detail {
namespace {

// ---------------------------------------------------------------------------------------------
// Rendering one slice into HU (before noise) and tissue labels.

using T = Tissue;

bool in_cavity(uint8_t tissue) {
  return tissue != uint8_t(T::kAir) && tissue != uint8_t(T::kSubcutaneousFat) &&
         tissue != uint8_t(T::kMuscle) && tissue != uint8_t(T::kBone);
}

template <typename F>
void for_inside(const Blob& b, const Grid& g, double t, F&& f) {
  const Section s = section(b, g, t);
  if (!s.present) return;
  for (int j = s.j0; j <= s.j1; ++j) {
    for (int i = s.i0; i <= s.i1; ++i) {
      const double q = s.q(i, j);
      if (q < 1) f(i, j, size_t(j) * g.nx + i, q, s);
    }
  }
}

// Paints value/tissue where the blob is and `allowed(current tissue)` holds.
template <typename Allowed>
void paint(const Blob& b, const Grid& g, double t, float* hu, uint8_t* tis, double value,
           Tissue tissue, Allowed&& allowed) {
  for_inside(b, g, t, [&](int, int, size_t idx, double, const Section&) {
    if (!allowed(tis[idx])) return;
    hu[idx] = float(value);
    tis[idx] = uint8_t(tissue);
  });
}

void paint_body(const Case& c, double t, float* hu, uint8_t* tis) {
  const Grid& g = c.grid;
  double zb[kMaxWaves], zf[kMaxWaves];
  c.body_field.slice_factors(t, zb);
  c.fat_field.slice_factors(t, zf);
  // Breathing-free but not a cylinder: the outline swells and shrinks a little along t.
  const double A = c.A * (1 + 0.04 * std::sin(2 * kPi * t + c.rib_phase));
  const double B = c.B * (1 + 0.03 * std::sin(3 * kPi * t + c.rib_phase));
  const double deep = 1 - 1.6 * c.fat - c.muscle - 0.05;  // no field can reach in here
  const bool ribs = t > c.rib_t0;
  for (int j = 0; j < g.ny; ++j) {
    const double y = (g.v[j] - c.bv) / B;
    for (int i = 0; i < g.nx; ++i) {
      const double x = (g.u[i] - c.bu) / A;
      const double r2 = x * x + y * y;
      const size_t idx = size_t(j) * g.nx + i;
      if (r2 < deep * deep) {
        hu[idx] = float(c.visceral_fat_hu);
        tis[idx] = uint8_t(T::kVisceralFat);
        continue;
      }
      if (r2 > 1.1 * 1.1) continue;  // air already
      const double r = std::sqrt(r2) + c.body_field.at(zb, i, j);
      const double fat = c.fat * (1 + c.fat_field.at(zf, i, j));
      const double inner = 1 - fat - c.muscle;
      if (r >= 1) continue;
      if (r >= 1 - fat) {
        hu[idx] = float(c.subq_fat_hu);
        tis[idx] = uint8_t(T::kSubcutaneousFat);
      } else if (r >= inner) {
        hu[idx] = float(c.muscle_hu);
        tis[idx] = uint8_t(T::kMuscle);
        // Ribs: arcs inside the muscle ring, absent at the spine and the sternum, their
        // positions drifting with t as real ribs run obliquely.
        if (ribs && r < inner + 0.7 * c.muscle) {
          const double theta = std::atan2(y, x);
          const bool spine = std::fabs(theta - kPi / 2) < 0.45;
          const bool sternum = std::fabs(theta + kPi / 2) < 0.5;
          if (!spine && !sternum &&
              std::cos(c.rib_count * theta + 2 * kPi * c.rib_freq * t + c.rib_phase) > 0.55) {
            hu[idx] = float(c.rib_hu);
            tis[idx] = uint8_t(T::kBone);
          }
        }
      } else {
        hu[idx] = float(c.visceral_fat_hu);
        tis[idx] = uint8_t(T::kVisceralFat);
      }
    }
  }
}

double point_segment_distance(const double p[3], const Segment& s, double zs, double* at) {
  double d[3], w[3];
  for (int a = 0; a < 3; ++a) {
    const double scale = a == 2 ? zs : 1.0;
    d[a] = (s.p1[a] - s.p0[a]) * scale;
    w[a] = (p[a] - s.p0[a]) * scale;
  }
  const double dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  double f = dd > 0 ? (w[0] * d[0] + w[1] * d[1] + w[2] * d[2]) / dd : 0;
  f = std::clamp(f, 0.0, 1.0);
  *at = f;
  double r2 = 0;
  for (int a = 0; a < 3; ++a) r2 += (w[a] - f * d[a]) * (w[a] - f * d[a]);
  return std::sqrt(r2);
}

void paint_vessels(const Case& c, double t, float* hu, uint8_t* tis) {
  const Grid& g = c.grid;
  for (const Segment& s : c.vessels) {
    const double rmax = std::max(s.r0, s.r1);
    const double tmin = std::min(s.p0[2], s.p1[2]) - rmax / g.zs;
    const double tmax = std::max(s.p0[2], s.p1[2]) + rmax / g.zs;
    if (t < tmin || t > tmax) continue;
    const int i0 = index_at_or_below(g.u, std::min(s.p0[0], s.p1[0]) - rmax);
    const int i1 = index_at_or_below(g.u, std::max(s.p0[0], s.p1[0]) + rmax) + 1;
    const int j0 = index_at_or_below(g.v, std::min(s.p0[1], s.p1[1]) - rmax);
    const int j1 = index_at_or_below(g.v, std::max(s.p0[1], s.p1[1]) + rmax) + 1;
    for (int j = j0; j <= std::min(j1, g.ny - 1); ++j) {
      for (int i = i0; i <= std::min(i1, g.nx - 1); ++i) {
        const size_t idx = size_t(j) * g.nx + i;
        if (tis[idx] != uint8_t(T::kLiver)) continue;
        const double p[3] = {g.u[i], g.v[j], t};
        double f;
        const double d = point_segment_distance(p, s, g.zs, &f);
        if (d < s.r0 + (s.r1 - s.r0) * f) {
          hu[idx] = float(c.vessel_hu);
          tis[idx] = uint8_t(T::kLiverVessel);
        }
      }
    }
  }
}

}  // namespace

void render_slice(const Case& c, int k, float* hu, uint8_t* tis) {
  const Grid& g = c.grid;
  const size_t plane = size_t(g.nx) * g.ny;
  const double t = g.t_of(k);
  std::fill(hu, hu + plane, float(c.air_hu));
  std::fill(tis, tis + plane, uint8_t(T::kAir));
  paint_body(c, t, hu, tis);
  auto cavity = [](uint8_t x) { return in_cavity(x); };
  for (const Blob& b : c.lungs) paint(b, g, t, hu, tis, c.lung_hu, T::kLung, cavity);
  for_inside(c.heart, g, t, [&](int, int, size_t idx, double q, const Section&) {
    if (!in_cavity(tis[idx])) return;
    // Enhanced blood inside, myocardium (muscle HU, the liver's range) around it.
    hu[idx] = float(q > 0.55 ? c.muscle_hu + 5 : c.heart_hu);
    tis[idx] = uint8_t(T::kHeart);
  });
  for (size_t n = 0; n < c.bowel.size(); ++n) {
    const bool gas = c.bowel_gas[n];
    const double value = c.bowel_hu[n];
    for_inside(c.bowel[n], g, t, [&](int i, int j, size_t idx, double, const Section& s) {
      if (!in_cavity(tis[idx])) return;
      // Gas rises to the anterior side (the patient lies on their back).
      const bool in_gas = gas && s.y_norm(i, j) < -0.25;
      hu[idx] = float(in_gas ? -950.0 : value);
      tis[idx] = uint8_t(in_gas ? T::kBowelGas : T::kBowel);
    });
  }
  for_inside(c.stomach, g, t, [&](int i, int j, size_t idx, double q, const Section& s) {
    if (!in_cavity(tis[idx])) return;
    double value = q > 0.75 ? c.stomach_wall_hu : s.y_norm(i, j) < -0.45 ? -950.0 : c.stomach_hu;
    hu[idx] = float(value);
    tis[idx] = uint8_t(T::kStomach);
  });
  // Liver: the union of both lobes, clipped to the cavity.
  {
    const Section a = section(c.liver_right, g, t), b = section(c.liver_left, g, t);
    if (a.present || b.present) {
      double zl[kMaxWaves];
      c.liver_texture.slice_factors(t, zl);
      const int i0 = std::min(a.present ? a.i0 : g.nx, b.present ? b.i0 : g.nx);
      const int i1 = std::max(a.present ? a.i1 : -1, b.present ? b.i1 : -1);
      const int j0 = std::min(a.present ? a.j0 : g.ny, b.present ? b.j0 : g.ny);
      const int j1 = std::max(a.present ? a.j1 : -1, b.present ? b.j1 : -1);
      for (int j = j0; j <= j1; ++j) {
        for (int i = i0; i <= i1; ++i) {
          const size_t idx = size_t(j) * g.nx + i;
          if (!in_cavity(tis[idx])) continue;
          const bool inside = (a.present && a.q(i, j) < 1) || (b.present && b.q(i, j) < 1);
          if (!inside) continue;
          hu[idx] = float(c.liver_hu + c.liver_texture_hu * c.liver_texture.at(zl, i, j));
          tis[idx] = uint8_t(T::kLiver);
        }
      }
    }
  }
  paint_vessels(c, t, hu, tis);
  for (size_t n = 0; n < c.lesions.size(); ++n) {
    paint(c.lesions[n], g, t, hu, tis, c.lesion_hu[n], T::kLiverLesion,
          [](uint8_t x) { return x == uint8_t(T::kLiver) || x == uint8_t(T::kLiverVessel); });
  }
  // Organs that indent the liver rather than sit inside it.
  paint(c.gallbladder, g, t, hu, tis, c.gallbladder_hu, T::kGallbladder, cavity);
  paint(c.spleen, g, t, hu, tis, c.spleen_hu, T::kSpleen, cavity);
  for (const Blob& kidney : c.kidney) {
    for_inside(kidney, g, t, [&](int i, int j, size_t idx, double q, const Section& s) {
      if (!in_cavity(tis[idx])) return;
      // Renal sinus fat on the medial side of the centre.
      const bool sinus = q < 0.35 && s.x_norm(i, j) * (kidney.cu > 0 ? -1 : 1) > 0.1;
      hu[idx] = float(sinus ? c.visceral_fat_hu : c.kidney_hu);
      tis[idx] = uint8_t(sinus ? T::kVisceralFat : T::kKidney);
    });
  }
  auto anywhere = [](uint8_t) { return true; };
  for (const Blob& b : c.psoas) paint(b, g, t, hu, tis, c.muscle_hu, T::kMuscle, cavity);
  paint(c.aorta, g, t, hu, tis, c.aorta_hu, T::kAorta, anywhere);
  paint(c.cava, g, t, hu, tis, c.cava_hu, T::kVenaCava, anywhere);
  for (const Blob& b : c.paraspinal) paint(b, g, t, hu, tis, c.muscle_hu, T::kMuscle, anywhere);
  // Vertebrae: cortex around cancellous bone, with intervertebral discs at a regular period.
  const double phase = t / c.vertebra_period + c.vertebra_phase;
  const bool disc = phase - std::floor(phase) < 0.18;
  for_inside(c.vertebra, g, t, [&](int, int, size_t idx, double q, const Section&) {
    hu[idx] = float(disc ? c.disc_hu : q > 0.7 ? c.cortex_hu : c.cancellous_hu);
    tis[idx] = uint8_t(disc ? T::kMuscle : T::kBone);
  });
  if (!disc) {
    paint(c.lamina, g, t, hu, tis, c.cortex_hu, T::kBone, anywhere);
    paint(c.spinous, g, t, hu, tis, c.cortex_hu, T::kBone, anywhere);
  }
  paint(c.canal, g, t, hu, tis, c.csf_hu, T::kSpinalCanal, anywhere);
}

// Separable 3-tap blur (w, 1 - 2w, w) along rows then columns, edges clamped: the in-plane part
// of the partial-volume effect (sigma about 0.55-0.7 voxels).
void blur_plane(float* img, int nx, int ny, double w, std::vector<float>& tmp) {
  const float a = float(w), b = float(1 - 2 * w);
  tmp.resize(size_t(nx) * ny);
  for (int j = 0; j < ny; ++j) {
    const float* row = img + size_t(j) * nx;
    float* out = tmp.data() + size_t(j) * nx;
    for (int i = 0; i < nx; ++i) {
      const float l = row[i > 0 ? i - 1 : 0], r = row[i < nx - 1 ? i + 1 : nx - 1];
      out[i] = a * (l + r) + b * row[i];
    }
  }
  for (int j = 0; j < ny; ++j) {
    const float* up = tmp.data() + size_t(j > 0 ? j - 1 : 0) * nx;
    const float* mid = tmp.data() + size_t(j) * nx;
    const float* down = tmp.data() + size_t(j < ny - 1 ? j + 1 : ny - 1) * nx;
    float* out = img + size_t(j) * nx;
    for (int i = 0; i < nx; ++i) out[i] = a * (up[i] + down[i]) + b * mid[i];
  }
}

}  // namespace unet::phantom::detail
