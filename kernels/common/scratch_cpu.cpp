#include "kernels/common/scratch_cpu.h"

#include <memory>
#include <stdexcept>
#include <string>

namespace unet::kernels {

float* cpu_scratch(int slot, size_t floats) {
  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t size = 0;
  };
  thread_local Buffer buffers[kScratchSlots];
  if (slot < 0 || slot >= kScratchSlots) {
    throw std::invalid_argument("cpu_scratch: slot " + std::to_string(slot) + " out of range");
  }
  Buffer& b = buffers[slot];
  if (b.size < floats) {
    b.data.reset(new float[floats]);  // default-initialised: no zero fill
    b.size = floats;
  }
  return b.data.get();
}

}  // namespace unet::kernels
