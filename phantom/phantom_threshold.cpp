// The global-threshold baseline for the phantom: how well does "liver = HU in [lo, hi]" do?
// Histograms of liver and non-liver voxels (one bin per HU) make every window an O(1) lookup,
// so the exhaustive coarse search costs nothing next to reading the voxels once.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "phantom/phantom.h"

namespace unet::phantom {
namespace {

constexpr int kMinHu = -1024, kMaxHu = 3071, kBins = kMaxHu - kMinHu + 1;

struct Histograms {
  // Cumulative counts: pos[b] = liver voxels with HU < kMinHu + b (so pos[0] = 0).
  std::vector<int64_t> pos, neg;
};

Histograms histograms(const std::vector<Phantom>& cases) {
  std::vector<int64_t> hp(kBins, 0), hn(kBins, 0);
  for (const Phantom& p : cases) {
    if (p.hu.size() != p.liver.size()) {
      throw std::invalid_argument("best_threshold_dice: a phantom has " +
                                  std::to_string(p.hu.size()) + " HU voxels but " +
                                  std::to_string(p.liver.size()) + " mask voxels");
    }
    for (size_t n = 0; n < p.hu.size(); ++n) {
      const int b = std::clamp(int(p.hu[n]), kMinHu, kMaxHu) - kMinHu;
      (p.liver[n] ? hp : hn)[b]++;
    }
  }
  Histograms h;
  h.pos.assign(kBins + 1, 0);
  h.neg.assign(kBins + 1, 0);
  for (int b = 0; b < kBins; ++b) {
    h.pos[b + 1] = h.pos[b] + hp[b];
    h.neg[b + 1] = h.neg[b] + hn[b];
  }
  return h;
}

double dice_of(const Histograms& h, int lo, int hi) {
  const int a = std::clamp(lo, kMinHu, kMaxHu + 1) - kMinHu;
  const int b = std::clamp(hi + 1, kMinHu, kMaxHu + 1) - kMinHu;
  if (b <= a) return 0;
  const double tp = double(h.pos[b] - h.pos[a]), fp = double(h.neg[b] - h.neg[a]);
  const double truth = double(h.pos[kBins]);
  const double denominator = (tp + fp) + truth;
  return denominator > 0 ? 2 * tp / denominator : 0;
}

}  // namespace

double window_dice(const std::vector<Phantom>& cases, int lo, int hi) {
  return dice_of(histograms(cases), lo, hi);
}

ThresholdResult best_threshold_dice(const std::vector<Phantom>& cases, int step_hu) {
  if (step_hu < 1) {
    throw std::invalid_argument("best_threshold_dice: step_hu " + std::to_string(step_hu) +
                                " must be at least 1");
  }
  const Histograms h = histograms(cases);
  ThresholdResult best;
  for (int lo = -300; lo <= 600; lo += step_hu) {
    for (int hi = lo; hi <= 600; hi += step_hu) {
      const double d = dice_of(h, lo, hi);
      if (d > best.dice) best = {d, lo, hi};
    }
  }
  return best;
}

}  // namespace unet::phantom
