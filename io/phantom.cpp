// The synthetic CT phantom (DESIGN.md section 7, docs/DATA.md).
//
// Anatomy lives in normalised coordinates: u in (-1, 1) across columns i (u > 0 is the patient's
// left), v in (-1, 1) down rows j (v < 0 anterior), t in (0, 1) along slices k (t > 0.5 superior).
// Organs are "blobs": ellipsoids with their own centre drift along t, in-plane rotation, separate
// upper and lower extents, and a smooth random deformation (a few low-frequency sinusoid
// products) added to the implicit function. Each slice is rendered on its own (so slices can run
// in parallel and every slice's noise has its own random stream), then blurred in-plane; the
// z-blur, global offset and noise follow per output slice.
//
// Cost per voxel: the body pass is a few multiply-adds (the deformation fields are only evaluated
// in the band near the skin), each organ touches only its bounding box, the blur is 3+3+3 taps
// and the noise one table lookup: 512x512x150 takes about two seconds on one core.
#include "io/phantom.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace unet::io {
namespace {

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** seeded by splitmix64, with our own uniform and normal draws
// (std:: distributions differ between standard libraries; the phantom must not).

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (auto& s : s_) s = splitmix(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  int integer(int lo, int hi) { return std::min(hi, lo + int(uniform() * (hi - lo + 1))); }
  bool chance(double p) { return uniform() < p; }
  double sign() { return chance(0.5) ? 1.0 : -1.0; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// ---------------------------------------------------------------------------------------------
// Smooth random deformation: sum over waves of amp * sin(fu u + pu) sin(fv v + pv) sin(ft t + pt).

constexpr int kMaxWaves = 4;

struct Grid {
  int nx = 0, ny = 0, nz = 0;
  std::vector<double> u, v;  // u of column i, v of row j
  double zs = 1;             // physical length of one t unit in u units (round vessels)
  double t_of(int k) const { return (k + 0.5) / nz; }
};

class Field {
 public:
  Field() = default;
  Field(Rng& rng, const Grid& g, int waves, double amp, double fmin, double fmax) : n_(waves) {
    for (int w = 0; w < n_; ++w) {
      Wave& x = w_[w];
      x.fu = rng.uniform(fmin, fmax);
      x.fv = rng.uniform(fmin, fmax);
      x.ft = rng.uniform(fmin, fmax) * 0.5;
      x.pu = rng.uniform(0, 2 * kPi);
      x.pv = rng.uniform(0, 2 * kPi);
      x.pt = rng.uniform(0, 2 * kPi);
      x.amp = amp / std::sqrt(double(n_)) * rng.uniform(0.6, 1.4);
      max_abs_ += std::fabs(x.amp);
    }
    tu_.resize(size_t(n_) * g.nx);
    tv_.resize(size_t(n_) * g.ny);
    for (int w = 0; w < n_; ++w) {
      for (int i = 0; i < g.nx; ++i) tu_[w * g.nx + i] = std::sin(w_[w].fu * g.u[i] + w_[w].pu);
      for (int j = 0; j < g.ny; ++j) tv_[w * g.ny + j] = std::sin(w_[w].fv * g.v[j] + w_[w].pv);
    }
    nx_ = g.nx;
    ny_ = g.ny;
  }
  int waves() const { return n_; }
  double max_abs() const { return max_abs_; }
  // Per-slice factors amp * sin(ft t + pt).
  void slice_factors(double t, double* zt) const {
    for (int w = 0; w < n_; ++w) zt[w] = w_[w].amp * std::sin(w_[w].ft * t + w_[w].pt);
  }
  double at(const double* zt, int i, int j) const {
    double d = 0;
    for (int w = 0; w < n_; ++w) d += zt[w] * tu_[w * nx_ + i] * tv_[w * ny_ + j];
    return d;
  }
  double eval(double u, double v, double t) const {
    double d = 0;
    for (int w = 0; w < n_; ++w) {
      const Wave& x = w_[w];
      d +=
          x.amp * std::sin(x.fu * u + x.pu) * std::sin(x.fv * v + x.pv) * std::sin(x.ft * t + x.pt);
    }
    return d;
  }

 private:
  struct Wave {
    double fu, pu, fv, pv, ft, pt, amp;
  };
  Wave w_[kMaxWaves] = {};
  int n_ = 0, nx_ = 0, ny_ = 0;
  double max_abs_ = 0;
  std::vector<double> tu_, tv_;
};

// ---------------------------------------------------------------------------------------------
// Blobs: q = (x/ru)^2 + (y/rv)^2 + |s|^power + field; inside where q < 1.

struct Blob {
  double cu = 0, cv = 0, tc = 0.5;  // centre at t = tc
  double du = 0, dv = 0;            // centre drift per unit t (oblique organs, tubes)
  double ru = 0.1, rv = 0.1;        // in-plane semi-axes, before rotation
  double rt_lo = 1e3, rt_hi = 1e3;  // extent below / above tc (huge: a tube through the volume)
  double angle = 0, power = 2;
  Field field;
};

// A blob's cross-section on one slice: centre, rotation, bounding box, field factors.
struct Section {
  bool present = false;
  double cu = 0, cv = 0, sp = 0, ca = 1, sa = 0, iru = 1, irv = 1;
  double zt[kMaxWaves] = {};
  int i0 = 0, i1 = -1, j0 = 0, j1 = -1;
  const Blob* b = nullptr;
  const Grid* g = nullptr;

  double q(int i, int j) const {
    const double x = g->u[i] - cu, y = g->v[j] - cv;
    const double a = (ca * x + sa * y) * iru, c = (-sa * x + ca * y) * irv;
    return a * a + c * c + sp + b->field.at(zt, i, j);
  }
  // Rotated, normalised in-plane coordinates (for walls, gas levels, sinus fat).
  double y_norm(int i, int j) const {
    const double x = g->u[i] - cu, y = g->v[j] - cv;
    return (-sa * x + ca * y) * irv;
  }
  double x_norm(int i, int j) const {
    const double x = g->u[i] - cu, y = g->v[j] - cv;
    return (ca * x + sa * y) * iru;
  }
};

int index_at_or_below(const std::vector<double>& axis, double x) {
  // axis is uniform: x = (i + 0.5) * 2 / n - 1
  const int n = int(axis.size());
  return std::clamp(int(std::floor((x + 1) * n / 2 - 0.5)), 0, n - 1);
}

Section section(const Blob& b, const Grid& g, double t) {
  Section s;
  const double dt = t - b.tc;
  const double st = dt / (dt < 0 ? b.rt_lo : b.rt_hi);
  s.sp = std::pow(std::fabs(st), b.power);
  const double room = 1 - s.sp + b.field.max_abs();
  if (room <= 0) return s;
  s.present = true;
  s.b = &b;
  s.g = &g;
  s.cu = b.cu + b.du * dt;
  s.cv = b.cv + b.dv * dt;
  s.ca = std::cos(b.angle);
  s.sa = std::sin(b.angle);
  s.iru = 1 / b.ru;
  s.irv = 1 / b.rv;
  b.field.slice_factors(t, s.zt);
  const double r = std::max(b.ru, b.rv) * std::sqrt(room) + 0.01;
  s.i0 = index_at_or_below(g.u, s.cu - r);
  s.i1 = index_at_or_below(g.u, s.cu + r) + 1;
  s.j0 = index_at_or_below(g.v, s.cv - r);
  s.j1 = index_at_or_below(g.v, s.cv + r) + 1;
  s.i1 = std::min(s.i1, g.nx - 1);
  s.j1 = std::min(s.j1, g.ny - 1);
  return s;
}

// Tubes (vessels inside the liver): a segment in (u, v, t * zs) with a radius tapering from r0 to
// r1.
struct Segment {
  double p0[3], p1[3];  // (u, v, t)
  double r0, r1;
};

// ---------------------------------------------------------------------------------------------
// One case: every random draw happens here, rendering is a pure function of it.

struct Case {
  Grid grid;
  PhantomInfo info;
  double spacing[3] = {1, 1, 1};
  // body
  double bu = 0, bv = 0, A = 0.85, B = 0.62, fat = 0.07, muscle = 0.04;
  Field body_field, fat_field;
  double air_hu = -1000, subq_fat_hu = -100, visceral_fat_hu = -85, muscle_hu = 50;
  // ribs
  double rib_t0 = 0.3, rib_count = 9, rib_freq = 3, rib_phase = 0, rib_hu = 800;
  // organs
  std::vector<Blob> lungs, bowel;
  std::vector<double> bowel_hu;
  std::vector<bool> bowel_gas;
  Blob heart, stomach, liver_right, liver_left, gallbladder, spleen, kidney[2], psoas[2];
  Blob paraspinal[2], vertebra, canal, lamina, spinous, aorta, cava;
  std::vector<Segment> vessels;
  std::vector<Blob> lesions;
  std::vector<double> lesion_hu;
  Field liver_texture;
  double liver_texture_hu = 5;
  double lung_hu = -850, heart_hu = 150, stomach_hu = 15, stomach_wall_hu = 45, liver_hu = 60;
  double vessel_hu = 170, gallbladder_hu = 10, spleen_hu = 55, kidney_hu = 160, aorta_hu = 200;
  double cava_hu = 140, cortex_hu = 850, cancellous_hu = 420, disc_hu = 80, csf_hu = 10;
  double vertebra_period = 0.1, vertebra_phase = 0;
  // image formation
  double blur_xy = 0.2, blur_z = 0.15;
};

Blob make_blob(Rng& rng, const Grid& g, double cu, double cv, double ru, double rv, double tc,
               double rt_lo, double rt_hi, double angle, double deform) {
  Blob b;
  b.cu = cu;
  b.cv = cv;
  b.ru = ru;
  b.rv = rv;
  b.tc = tc;
  b.rt_lo = rt_lo;
  b.rt_hi = rt_hi;
  b.angle = angle;
  // Wave frequencies scale with the organ: one or two bumps across it.
  const double size = std::max(ru, rv);
  if (deform > 0) b.field = Field(rng, g, 3, deform, 1.5 / size, 4.0 / size);
  return b;
}

double liver_q(const Case& c, double u, double v, double t);

Case draw_case(const PhantomOptions& o, Rng& rng) {
  Case c;
  Grid& g = c.grid;
  g.nx = o.nx;
  g.ny = o.ny;
  g.nz = o.nz > 0 ? o.nz : rng.integer(o.nz_min, o.nz_max);
  g.u.resize(g.nx);
  g.v.resize(g.ny);
  for (int i = 0; i < g.nx; ++i) g.u[i] = (i + 0.5) * 2.0 / g.nx - 1;
  for (int j = 0; j < g.ny; ++j) g.v[j] = (j + 0.5) * 2.0 / g.ny - 1;
  // In-plane spacing 0.6..0.9 mm at 512 (same field of view at other sizes); slices 1.0..2.5 mm,
  // thinner for longer scans so a scan covers about 250-350 mm.
  const double base = rng.uniform(0.6, 0.9);
  c.spacing[0] = base * 512.0 / g.nx;
  c.spacing[1] = base * 512.0 / g.ny;
  c.spacing[2] = std::clamp(rng.uniform(250, 350) / g.nz, 1.0, 2.5);
  g.zs = g.nz * c.spacing[2] / (g.nx * c.spacing[0] / 2);

  // Body: an ellipse with a deformed outline, subcutaneous fat, a muscle ring, the cavity.
  c.bu = rng.uniform(-0.03, 0.03);
  c.bv = rng.uniform(0.0, 0.08);
  c.A = rng.uniform(0.8, 0.92);
  c.B = rng.uniform(0.56, 0.68);
  c.fat = rng.uniform(0.04, 0.1);
  c.muscle = rng.uniform(0.04, 0.065);
  c.body_field = Field(rng, g, 3, 0.03, 2, 5);
  c.fat_field = Field(rng, g, 2, 0.6, 2, 6);
  c.subq_fat_hu = rng.uniform(-110, -90);
  c.visceral_fat_hu = rng.uniform(-100, -70);
  c.muscle_hu = rng.uniform(40, 60);
  const double A = c.A, B = c.B, bu = c.bu, bv = c.bv;
  auto U = [&](double a) { return bu + A * a; };  // body-relative placement
  auto V = [&](double b) { return bv + B * b; };

  // Liver: a right lobe against the right anterolateral wall (image left) and a left lobe
  // reaching across the midline anteriorly; the cavity clips both.
  const double tc = rng.uniform(0.5, 0.6);
  const double up = std::min(rng.uniform(0.16, 0.25), 0.86 - tc);
  const double down = std::min(rng.uniform(0.24, 0.36), tc - 0.14);
  c.liver_right = make_blob(rng, g, U(rng.uniform(-0.5, -0.38)), V(rng.uniform(-0.25, -0.05)),
                            A * rng.uniform(0.36, 0.48), B * rng.uniform(0.55, 0.72), tc, down, up,
                            rng.uniform(-0.35, 0.2), rng.uniform(0.15, 0.3));
  c.liver_right.power = rng.uniform(1.8, 2.6);
  c.liver_right.du = rng.uniform(-0.2, 0.2);
  c.liver_left = make_blob(rng, g, U(rng.uniform(-0.05, 0.15)), V(rng.uniform(-0.6, -0.4)),
                           A * rng.uniform(0.25, 0.38), B * rng.uniform(0.2, 0.32),
                           tc + rng.uniform(0.03, 0.08), rng.uniform(0.08, 0.14),
                           std::min(rng.uniform(0.1, 0.16), 0.86 - tc - 0.08),
                           rng.uniform(-0.3, 0.1), rng.uniform(0.15, 0.3));
  c.liver_hu = rng.uniform(50, 70);
  // Parenchyma is not flat: slow perfusion differences of a few HU.
  c.liver_texture = Field(rng, g, 3, 1.0, 4, 10);
  c.liver_texture_hu = rng.uniform(3, 8);
  const double liver_top = tc + up, liver_bottom = tc - down;

  // Vessels: portal branches fanning out from the hilum, hepatic veins converging to the cava.
  c.info.enhanced_vessels = rng.chance(0.6);
  c.vessel_hu = c.info.enhanced_vessels ? rng.uniform(130, 200) : rng.uniform(25, 40);
  const Blob& lr = c.liver_right;
  const double hilum[3] = {lr.cu + 0.35 * lr.ru, lr.cv + 0.15 * lr.rv, tc - 0.25 * down};
  const int portal = rng.integer(6, 10);
  for (int n = 0; n < portal; ++n) {
    const double ang = rng.uniform(-kPi, kPi);
    const double len = rng.uniform(0.5, 0.9);
    Segment s{{hilum[0], hilum[1], hilum[2]},
              {hilum[0] + std::cos(ang) * lr.ru * len, hilum[1] + std::sin(ang) * lr.rv * len,
               hilum[2] + rng.uniform(-0.3, 0.6) * up},
              rng.uniform(0.025, 0.04),
              rng.uniform(0.01, 0.018)};
    c.vessels.push_back(s);
  }
  const double cava_u = U(rng.uniform(-0.14, -0.08)), cava_v = V(rng.uniform(0.18, 0.3));
  for (int n = 0; n < 3; ++n) {
    const double top[3] = {cava_u, cava_v, liver_top - 0.15 * up};
    const double ang = -kPi / 2 - 1.0 + n * 0.8 + rng.uniform(-0.2, 0.2);
    const double len = rng.uniform(0.6, 0.9);
    Segment s{{top[0], top[1], top[2]},
              {lr.cu + std::cos(ang) * lr.ru * len, lr.cv + std::sin(ang) * lr.rv * len,
               top[2] - rng.uniform(0.2, 0.6) * up},
              rng.uniform(0.025, 0.038),
              rng.uniform(0.01, 0.016)};
    c.vessels.push_back(s);
  }

  // Lesions: hypodense blobs placed where the liver is (a point with liver_q < 0.5).
  const int wanted = rng.chance(0.2) ? 0 : rng.integer(1, 5);
  for (int n = 0, tries = 0; n < wanted && tries < 200; ++tries) {
    const double u = lr.cu + rng.uniform(-0.6, 0.6) * lr.ru;
    const double v = lr.cv + rng.uniform(-0.6, 0.6) * lr.rv;
    const double t = tc + rng.uniform(-0.6 * down, 0.6 * up);
    const double inner = 1 - c.fat - c.muscle - 0.05;
    const double ub = (u - bu) / A, vb = (v - bv) / B;
    if (liver_q(c, u, v, t) > 0.5 || ub * ub + vb * vb > inner * inner) continue;
    const double r = rng.uniform(0.025, 0.1);
    Blob b = make_blob(rng, g, u, v, r * rng.uniform(0.8, 1.2), r * rng.uniform(0.8, 1.2), t,
                       r / g.zs, r / g.zs, rng.uniform(0, kPi), 0.15);
    c.lesions.push_back(b);
    c.lesion_hu.push_back(rng.uniform(10, 42));
    ++n;
  }
  c.info.lesions = int(c.lesions.size());

  // Other organs: anatomy-shaped placements, jittered.
  for (double side : {-1.0, 1.0}) {  // lung bases above the liver dome
    c.lungs.push_back(make_blob(rng, g, U(side * rng.uniform(0.4, 0.5)), V(rng.uniform(0.0, 0.2)),
                                A * rng.uniform(0.35, 0.45), B * rng.uniform(0.55, 0.7), 1.0,
                                1.0 - (liver_top - rng.uniform(0.08, 0.14)), 1.0, 0, 0.1));
    c.lungs.back().power = 1;
  }
  c.lung_hu = rng.uniform(-880, -820);
  c.heart = make_blob(rng, g, U(rng.uniform(0.0, 0.15)), V(rng.uniform(-0.45, -0.3)),
                      A * rng.uniform(0.25, 0.32), B * rng.uniform(0.35, 0.45), 1.0,
                      1.0 - (liver_top - rng.uniform(0.0, 0.05)), 1.0, rng.uniform(-0.4, 0.4), 0.1);
  c.heart.power = 1;
  c.stomach =
      make_blob(rng, g, U(rng.uniform(0.2, 0.4)), V(rng.uniform(-0.45, -0.2)),
                A * rng.uniform(0.15, 0.22), B * rng.uniform(0.2, 0.3), tc + rng.uniform(0.02, 0.1),
                rng.uniform(0.1, 0.15), rng.uniform(0.1, 0.15), rng.uniform(-0.6, 0.6), 0.2);
  c.stomach_hu = rng.uniform(5, 25);
  c.stomach_wall_hu = rng.uniform(35, 50);
  // Bowel fills most of the cavity below the liver, as on a real abdominal CT.
  const int loops = rng.integer(45, 75);
  for (int n = 0; n < loops; ++n) {
    const double r = rng.uniform(0.05, 0.1);
    Blob b = make_blob(rng, g, U(rng.uniform(-0.6, 0.6)), V(rng.uniform(-0.7, 0.3)), r,
                       r * rng.uniform(0.7, 1.3), rng.uniform(0.02, tc), rng.uniform(0.03, 0.12),
                       rng.uniform(0.03, 0.12), rng.uniform(0, kPi), 0.15);
    b.du = rng.uniform(-0.6, 0.6);
    b.dv = rng.uniform(-0.6, 0.6);
    c.bowel.push_back(b);
    c.bowel_hu.push_back(rng.uniform(15, 45));
    c.bowel_gas.push_back(rng.chance(0.35));
  }
  c.gallbladder = make_blob(
      rng, g, lr.cu + lr.ru * rng.uniform(0.1, 0.4), lr.cv - lr.rv * rng.uniform(0.3, 0.6),
      rng.uniform(0.04, 0.07), rng.uniform(0.05, 0.08), tc - down * rng.uniform(0.4, 0.7),
      rng.uniform(0.05, 0.08), rng.uniform(0.05, 0.08), rng.uniform(0, kPi), 0.1);
  c.gallbladder_hu = rng.uniform(0, 20);
  c.spleen = make_blob(rng, g, U(rng.uniform(0.55, 0.7)), V(rng.uniform(0.15, 0.4)),
                       A * rng.uniform(0.13, 0.18), B * rng.uniform(0.3, 0.42),
                       tc + rng.uniform(-0.02, 0.1), rng.uniform(0.1, 0.16), rng.uniform(0.1, 0.16),
                       rng.uniform(0.3, 0.8), 0.2);
  c.spleen_hu = rng.uniform(45, 68);
  for (int s = 0; s < 2; ++s) {
    const double side = s == 0 ? -1 : 1;  // the right kidney sits lower
    c.kidney[s] = make_blob(rng, g, U(side * rng.uniform(0.33, 0.42)), V(rng.uniform(0.3, 0.45)),
                            A * rng.uniform(0.1, 0.13), B * rng.uniform(0.2, 0.26),
                            liver_bottom + rng.uniform(0.02, 0.12) + (s == 0 ? -0.04 : 0.02),
                            rng.uniform(0.1, 0.14), rng.uniform(0.1, 0.14),
                            side * rng.uniform(0.4, 0.7), 0.1);
  }
  c.kidney_hu = rng.uniform(130, 200);

  // Spine and what surrounds it, tubes through the whole volume.
  const double spine_v = V(rng.uniform(0.4, 0.5)), vb_r = A * rng.uniform(0.09, 0.11);
  c.vertebra = make_blob(rng, g, U(0), spine_v, vb_r, vb_r * 0.9, 0.5, 1e3, 1e3, 0, 0);
  c.lamina = make_blob(rng, g, U(0), spine_v + vb_r + 0.05, 0.075, 0.065, 0.5, 1e3, 1e3, 0, 0);
  c.canal = make_blob(rng, g, U(0), spine_v + vb_r + 0.05, 0.035, 0.03, 0.5, 1e3, 1e3, 0, 0);
  c.spinous = make_blob(rng, g, U(0), spine_v + vb_r + 0.15, 0.022, 0.08, 0.5, 1e3, 1e3, 0, 0);
  for (int s = 0; s < 2; ++s) {
    const double side = s == 0 ? -1 : 1;
    c.paraspinal[s] = make_blob(rng, g, U(side * 0.14), spine_v + vb_r + 0.12, A * 0.11, 0.1, 0.5,
                                1e3, 1e3, side * 0.3, 0.05);
    // Psoas: grows towards the pelvis (power 1 blob with its tip above the kidneys).
    c.psoas[s] = make_blob(rng, g, U(side * 0.15), spine_v - 0.02, A * rng.uniform(0.08, 0.1), 0.08,
                           0.0, 1e3, liver_bottom + 0.2, side * 0.5, 0.05);
    c.psoas[s].power = 1;
    c.psoas[s].du = -side * 0.15;
  }
  c.aorta = make_blob(rng, g, U(rng.uniform(0.04, 0.08)), spine_v - vb_r - 0.05,
                      rng.uniform(0.035, 0.045), rng.uniform(0.035, 0.045), 0.5, 1e3, 1e3, 0, 0);
  c.cava = make_blob(rng, g, cava_u, cava_v, rng.uniform(0.04, 0.05), rng.uniform(0.025, 0.035),
                     0.5, 1e3, 1e3, 0, 0.05);
  c.aorta_hu = rng.uniform(150, 250);
  c.heart_hu = c.aorta_hu - rng.uniform(10, 40);
  c.cava_hu = rng.uniform(100, 160);
  c.cortex_hu = rng.uniform(700, 1000);
  c.cancellous_hu = rng.uniform(380, 480);
  c.disc_hu = rng.uniform(70, 95);
  c.vertebra_period = rng.uniform(25, 32) / (g.nz * c.spacing[2]);  // one vertebra per ~28 mm
  c.vertebra_phase = rng.uniform(0, 1);
  c.rib_t0 = liver_bottom + rng.uniform(-0.05, 0.1);
  c.rib_count = rng.integer(7, 10);
  c.rib_freq = rng.uniform(2, 4);
  c.rib_phase = rng.uniform(0, 2 * kPi);
  c.rib_hu = rng.uniform(500, 900);

  // Image formation: partial-volume blur, noise, offset.
  c.blur_xy = rng.uniform(0.15, 0.25);
  c.blur_z = std::min(0.3, rng.uniform(0.08, 0.12) * c.spacing[2]);
  c.info.noise_sigma_hu = rng.uniform(8, 18);
  c.info.offset_hu = rng.uniform(-20, 20);
  c.info.liver_hu = c.liver_hu;
  return c;
}

double blob_q(const Blob& b, double u, double v, double t) {
  const double dt = t - b.tc;
  const double st = dt / (dt < 0 ? b.rt_lo : b.rt_hi);
  const double x = u - (b.cu + b.du * dt), y = v - (b.cv + b.dv * dt);
  const double ca = std::cos(b.angle), sa = std::sin(b.angle);
  const double a = (ca * x + sa * y) / b.ru, c = (-sa * x + ca * y) / b.rv;
  return a * a + c * c + std::pow(std::fabs(st), b.power) + b.field.eval(u, v, t);
}

double liver_q(const Case& c, double u, double v, double t) {
  return std::min(blob_q(c.liver_right, u, v, t), blob_q(c.liver_left, u, v, t));
}

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

// Standard normal draws by inverse CDF: a table of 1025 quantiles interpolated linearly, indexed
// by 32 random bits. Four times cheaper than Box-Muller (no log, sqrt, sin, cos per voxel); the
// tails stop at about 3.4 sigma, which CT-like noise after rounding to whole HU does not miss.
class NormalTable {
 public:
  NormalTable() {
    for (int n = 0; n <= kSize; ++n) {
      const double p = (n + 0.5) / (kSize + 1);  // midpoints keep the table symmetric
      double lo = -8, hi = 8;                    // bisection on Phi(x) = p
      for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
      }
      q_[n] = float(0.5 * (lo + hi));
    }
  }
  float draw(uint32_t bits) const {
    const uint32_t idx = bits >> 22;                         // 10 bits: table cell
    const float frac = float(bits & 0x3fffff) * 0x1.0p-22f;  // 22 bits: position in the cell
    return q_[idx] + frac * (q_[idx + 1] - q_[idx]);
  }

 private:
  static constexpr int kSize = 1024;
  float q_[kSize + 1];
};

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

}  // namespace

const char* tissue_name(Tissue t) {
  static const char* const names[] = {
      "air",         "subcutaneous fat", "muscle", "visceral fat", "bowel",
      "bowel gas",   "stomach",          "liver",  "liver vessel", "liver lesion",
      "gallbladder", "spleen",           "kidney", "aorta",        "vena cava",
      "bone",        "spinal canal",     "lung",   "heart"};
  const int i = int(t);
  return i >= 0 && i < int(Tissue::kCount) ? names[i] : "unknown";
}

Phantom make_phantom(const PhantomOptions& o) {
  if (o.nx < 16 || o.ny < 16 || o.nx > 4096 || o.ny > 4096) {
    throw std::invalid_argument("make_phantom: slice size " + std::to_string(o.nx) + "x" +
                                std::to_string(o.ny) + " must be between 16 and 4096");
  }
  const int lo = o.nz > 0 ? o.nz : o.nz_min, hi = o.nz > 0 ? o.nz : o.nz_max;
  if (lo < 4 || hi > 2048 || lo > hi) {
    throw std::invalid_argument("make_phantom: slice count range " + std::to_string(lo) + ".." +
                                std::to_string(hi) + " must lie within 4..2048 with min <= max");
  }
  Rng rng(o.seed, 0);
  const Case c = draw_case(o, rng);
  const Grid& g = c.grid;
  Phantom p;
  p.info = c.info;
  p.geometry = make_geometry(g.nx, g.ny, g.nz, c.spacing[0], c.spacing[1], c.spacing[2]);
  const size_t plane = size_t(g.nx) * g.ny;
  p.hu.resize(plane * g.nz);
  p.liver.resize(plane * g.nz);
  if (o.keep_tissue) p.tissue.resize(plane * g.nz);

  // Slices are rendered in chunks (plus one neighbour on each side for the z-blur), so memory
  // stays at a few slices of floats whatever the volume size.
  static const NormalTable normal;
  constexpr int kChunk = 16;
  std::vector<float> raw(size_t(kChunk + 2) * plane);
  std::vector<uint8_t> tis(size_t(kChunk + 2) * plane);
  for (int k0 = 0; k0 < g.nz; k0 += kChunk) {
    const int k1 = std::min(g.nz, k0 + kChunk);
    const int r0 = std::max(0, k0 - 1), r1 = std::min(g.nz, k1 + 1);
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = r0; k < r1; ++k) {
      float* hu = raw.data() + size_t(k - r0) * plane;
      render_slice(c, k, hu, tis.data() + size_t(k - r0) * plane);
      std::vector<float> tmp;
      blur_plane(hu, g.nx, g.ny, c.blur_xy, tmp);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = k0; k < k1; ++k) {
      const float* below = raw.data() + size_t(std::max(k - 1, r0) - r0) * plane;
      const float* mid = raw.data() + size_t(k - r0) * plane;
      const float* above = raw.data() + size_t(std::min(k + 1, r1 - 1) - r0) * plane;
      const float w = float(c.blur_z), wm = float(1 - 2 * c.blur_z);
      const float offset = float(c.info.offset_hu), sigma = float(c.info.noise_sigma_hu);
      Rng noise(o.seed, 1 + uint64_t(k));  // one stream per slice: any thread order, same bits
      int16_t* out = p.hu.data() + size_t(k) * plane;
      for (size_t n = 0; n < plane; n += 2) {
        const uint64_t bits = noise.next();  // two normals from 32 random bits each
        for (size_t m = n; m < std::min(plane, n + 2); ++m) {
          const float z = normal.draw(uint32_t(bits >> (32 * (m - n))));
          const float v = w * (below[m] + above[m]) + wm * mid[m] + offset + sigma * z;
          out[m] = int16_t(std::lrint(std::clamp(v, -1024.0f, 3071.0f)));
        }
      }
      const uint8_t* labels = tis.data() + size_t(k - r0) * plane;
      uint8_t* mask = p.liver.data() + size_t(k) * plane;
      for (size_t m = 0; m < plane; ++m) {
        mask[m] = labels[m] == uint8_t(T::kLiver) || labels[m] == uint8_t(T::kLiverVessel) ||
                  labels[m] == uint8_t(T::kLiverLesion);
      }
      if (o.keep_tissue) std::copy(labels, labels + plane, p.tissue.data() + size_t(k) * plane);
    }
  }
  for (int k = 0; k < g.nz; ++k) {
    int64_t n = 0;
    const uint8_t* mask = p.liver.data() + size_t(k) * plane;
    for (size_t m = 0; m < plane; ++m) n += mask[m];
    if (n > 0) {
      if (p.info.liver_first_slice < 0) p.info.liver_first_slice = k;
      p.info.liver_last_slice = k;
    }
    p.info.liver_voxels += n;
  }
  return p;
}

}  // namespace unet::io
