// One phantom case: every random draw happens here; rendering is a pure function of the result.
#include <algorithm>
#include <cmath>

#include "phantom/phantom_model.h"

namespace unet::phantom::detail {

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

}  // namespace unet::phantom::detail
