// A per-op timeline without nsys: with UNET_PROFILE=1 in the environment (or set_profiling(true)),
// every op that goes through dispatch() (engine/dispatch.h) is timed, CPU ops with the steady clock
// (they are synchronous), CUDA ops with a pair of CUDA events on the engine stream (resolved when
// the table is asked for, so timing adds no host synchronisation inside a step). The table sums
// per op name: calls, total and per-call milliseconds, and the achieved rate from the FLOPs and
// bytes each call site declares (TFLOP/s for convolutions, GB/s for memory-bound ops).
//
// Off by default: dispatch() then costs one relaxed atomic load per op.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace unet {

// What a call site declares about one op call: a stable name ("conv2d.forward"), its arithmetic
// (0 when not meaningful) and the bytes it must move at least (inputs read + outputs written).
struct OpTag {
  const char* name;
  double flops = 0;
  double bytes = 0;
};

bool profiling_enabled();
void set_profiling(bool on);

// Times one op call while in scope (when profiling is enabled at construction).
class OpTimer {
 public:
  OpTimer(const OpTag& tag, bool cuda);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpTag tag_;
  bool active_ = false, cuda_ = false;
  int64_t start_ns_ = 0;
  void* start_event_ = nullptr;
};

struct OpProfileRow {
  std::string name;
  int64_t calls = 0;
  double ms = 0;  // total
  double flops = 0, bytes = 0;
};
// The rows so far, slowest first (waits for pending CUDA events).
std::vector<OpProfileRow> op_profile();
void reset_op_profile();
// The rows as an aligned text table with a total line ("op  calls  ms  ms/call  rate").
std::string op_profile_table();

}  // namespace unet
