// The phantom's geometry helpers: cross-sections of blobs, blob construction and the implicit
// functions of organs (see phantom/phantom_model.h and phantom/phantom.cpp for the model).
#include <algorithm>
#include <cmath>

#include "phantom/phantom_model.h"

namespace unet::phantom::detail {

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

}  // namespace unet::phantom::detail
