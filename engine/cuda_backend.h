// The few CUDA runtime services the engine needs, behind plain C++ declarations so engine .cpp
// files compile without CUDA headers. Implemented in cuda_backend.cu; without the CUDA backend in
// the build, cuda_backend_stub.cpp makes each of them throw a clear error instead.
#pragma once

#include <cstddef>

namespace unet::cuda_backend {

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };
// Asynchronous on the engine stream, except device-to-host, which waits for the data.
void memcpy(void* dst, const void* src, size_t bytes, CopyKind kind);
void memset_zero(void* dst, size_t bytes);
// Pinned host memory for the data loader (page-locked, so host-to-device copies run async).
void* host_alloc_pinned(size_t bytes);
void host_free_pinned(void* ptr);
// Timing events for the op profiler (engine/profiler.h): a CUDA event recorded now on the engine
// stream (reused from a pool), the milliseconds between two of them (waits for `end`), and the
// event's return to the pool.
void* event_record();
float event_elapsed_ms(void* start, void* end);
void event_release(void* event);

}  // namespace unet::cuda_backend
