// Raw device memory for kernel tests, behind plain C++ declarations so test files compile the same
// way with or without the CUDA backend (device_memory.cpp throws a clear error without it; tests
// skip before reaching it, see UNET_REQUIRE_CUDA).
#pragma once

#include <cstddef>

namespace unet::testing {

void* device_alloc(size_t bytes);
void device_free(void* ptr);
void copy_to_device(void* dst, const void* src, size_t bytes);
// Waits for all queued work first, so results of asynchronous kernels are complete.
void copy_to_host(void* dst, const void* src, size_t bytes);
// Fills with 0xFF bytes (a NaN pattern), so an output a kernel forgets to write is caught.
void device_poison(void* ptr, size_t bytes);
void device_synchronize();

}  // namespace unet::testing
