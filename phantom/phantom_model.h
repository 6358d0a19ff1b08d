// Private to the phantom generator (phantom/phantom*.cpp): the random source, the anatomy model's
// types and the functions the drawing, geometry and rendering files share. Not part of phantom/'s API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "phantom/phantom.h"

namespace unet::phantom::detail {

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** seeded by splitmix64, with our own uniform and normal draws
// (std:: distributions differ between standard libraries; the phantom must not).

inline uint64_t splitmix(uint64_t& x) {
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

// The axis index whose centre is at or below x (axes are uniform in (-1, 1)).
int index_at_or_below(const std::vector<double>& axis, double x);
// A blob's cross-section on slice t (present == false when the slice misses it).
Section section(const Blob& b, const Grid& g, double t);
Blob make_blob(Rng& rng, const Grid& g, double cu, double cv, double ru, double rv, double tc,
               double rt_lo, double rt_hi, double angle, double deform);
// Implicit functions: < 1 inside.
double blob_q(const Blob& b, double u, double v, double t);
double liver_q(const Case& c, double u, double v, double t);
// Every random draw of one case (phantom/phantom_draw.cpp).
Case draw_case(const PhantomOptions& o, Rng& rng);
// Hounsfield units and tissue labels of slice k, before blur and noise (phantom/phantom_render.cpp).
void render_slice(const Case& c, int k, float* hu, uint8_t* tis);
// Separable 3-tap in-plane blur (w, 1 - 2w, w), edges clamped.
void blur_plane(float* img, int nx, int ny, double w, std::vector<float>& tmp);

}  // namespace unet::phantom::detail
