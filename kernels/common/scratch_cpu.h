// Reusable scratch memory for the CPU fast paths (im2col columns, masked gradients). A kernel
// that called `std::vector<float>(n)` every time would zero-fill and page-fault tens of MiB per
// convolution, every training step; these buffers grow to the largest request and stay. They are
// per thread (thread_local), so concurrent callers never share one, and `slot` lets one kernel
// hold several at once. Contents are uninitialised: callers write before they read.
#pragma once

#include <cstddef>

namespace unet::kernels {

constexpr int kScratchSlots = 3;
// A buffer of at least `floats` floats for this thread and slot (0 <= slot < kScratchSlots).
float* cpu_scratch(int slot, size_t floats);

}  // namespace unet::kernels
