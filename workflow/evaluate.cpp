#include "workflow/evaluate.h"

#include <algorithm>

#include "engine/autograd.h"

namespace unet::workflow {

void DiceCounts::add(const std::vector<float>& logits, const float* target) {
  for (size_t i = 0; i < logits.size(); ++i) {
    const bool p = logits[i] > 0.0f, t = target[i] > 0.5f;
    intersection += p && t;
    predicted += p;
    truth += t;
  }
}

double DiceCounts::dice() const {
  const double denom = predicted + truth;
  return denom == 0 ? 1.0 : 2.0 * intersection / denom;
}

Evaluation evaluate(model::UNet& net, const io::SliceCache& cache,
                    const std::vector<int64_t>& indices, LossKind loss, int batch, Device device) {
  Evaluation ev;
  if (indices.empty()) return ev;
  NoGradGuard no_grad;
  net.set_training(false);
  const int h = cache.height(), w = cache.width();
  const int64_t hw = int64_t(h) * w;
  DiceCounts counts;
  double loss_sum = 0;
  int batches = 0;
  std::vector<float> images, masks;
  for (size_t start = 0; start < indices.size(); start += batch) {
    const int n = static_cast<int>(std::min<size_t>(batch, indices.size() - start));
    images.resize(n * hw);
    masks.resize(n * hw);
    for (int b = 0; b < n; ++b) {
      const int64_t s = indices[start + b];
      std::copy_n(cache.images.data() + s * hw, hw, images.data() + b * hw);
      for (int64_t i = 0; i < hw; ++i) masks[b * hw + i] = cache.masks[s * hw + i];
    }
    Tensor x = Tensor::from_data(images.data(), {n, h, w, 1}, device);
    Tensor t = Tensor::from_data(masks.data(), {n, h, w, 1}, device);
    Tensor logits = net.forward(x);
    loss_sum += compute_loss(loss, logits, t).item();
    ++batches;
    counts.add(logits.to_vector(), masks.data());
  }
  net.set_training(true);
  ev.loss = loss_sum / batches;
  ev.dice = counts.dice();
  return ev;
}

bool CollapseDetector::update(const float* logits, const float* targets, size_t n) {
  bool any_pred = false, any_truth = false;
  for (size_t i = 0; i < n; ++i) {
    any_pred |= logits[i] > 0.0f;
    any_truth |= targets[i] > 0.5f;
  }
  streak_ = (!any_pred && any_truth) ? streak_ + 1 : 0;
  return streak_ == steps_;
}

}  // namespace unet::workflow
