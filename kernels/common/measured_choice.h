// Looking up a measured per-layer variant table (conv2d's and conv_transpose2d's CPU choices):
// the row of the same layer whose measured batch is nearest to the one asked for.
#pragma once

#include <cmath>
#include <cstddef>

namespace unet::kernels {

// The row of `rows` for which `same_layer(row)` holds and whose batch `row.N` is nearest to `n`
// geometrically (|log(n / row.N)|: batch 3 is nearer to 1 than to 10, batch 4 nearer to 10), or
// nullptr when no row is the same layer.
template <typename Row, size_t kRows, typename SameLayer>
const Row* nearest_measured_row(const Row (&rows)[kRows], int n, SameLayer same_layer) {
  const Row* best = nullptr;
  double best_distance = 0;
  for (const Row& row : rows) {
    if (!same_layer(row)) continue;
    const double distance = std::fabs(std::log(double(n) / row.N));
    if (!best || distance < best_distance) best = &row, best_distance = distance;
  }
  return best;
}

}  // namespace unet::kernels
