// What the trainer measures: thresholded Dice counts (prediction = logit > 0, i.e. probability
// > 0.5), loss and Dice over a fixed list of cached slices, and collapse to all-background.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/device.h"
#include "io/slice_cache.h"
#include "model/unet.h"
#include "workflow/train_step.h"

namespace unet::workflow {

// Thresholded Dice counts summed over batches; Dice 1 when neither side has a positive pixel.
struct DiceCounts {
  double intersection = 0, predicted = 0, truth = 0;
  void add(const std::vector<float>& logits, const float* target);
  double dice() const;
};

struct Evaluation {
  double loss = 0, dice = 0;  // mean batch loss, Dice of all the slices together
};

// Loss and Dice of `net` over cache slices `indices`, `batch` slices per forward on `device`, in
// evaluation mode (batch-norm running statistics) without a tape; the net is left in training
// mode. Empty indices: both 0.
Evaluation evaluate(model::UNet& net, const io::SliceCache& cache,
                    const std::vector<int64_t>& indices, LossKind loss, int batch, Device device);

// Watches each training step's thresholded prediction (logit > 0) for a collapse to
// all-background. update() returns true on the step where the prediction has been empty for
// `steps` consecutive steps whose targets contained liver; a step with any prediction, or with an
// empty target, starts the count again.
class CollapseDetector {
 public:
  explicit CollapseDetector(int steps) : steps_(steps) {}
  bool update(const float* logits, const float* targets, size_t n);

 private:
  int steps_;
  int streak_ = 0;
};

}  // namespace unet::workflow
