// The op profiler behind UNET_PROFILE=1 (profiler.h). Rows are kept per op name in a map under a
// mutex; CUDA calls leave their event pair pending until op_profile() resolves them in order.
#include "engine/profiler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "engine/cuda_backend.h"

namespace unet {
namespace {

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> flag{[] {
    const char* env = std::getenv("UNET_PROFILE");
    return env != nullptr && std::strcmp(env, "0") != 0 && env[0] != '\0';
  }()};
  return flag;
}

struct Pending {
  OpTag tag;
  void* start;
  void* end;
};

struct Profile {
  std::mutex mutex;
  std::map<std::string, OpProfileRow> rows;
  std::vector<Pending> pending;
};

Profile& profile() {
  static auto* p = new Profile();  // leaked: ops may run during static destruction
  return *p;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void add_locked(Profile& p, const OpTag& tag, double ms) {
  OpProfileRow& r = p.rows[tag.name];
  r.name = tag.name;
  r.calls += 1;
  r.ms += ms;
  r.flops += tag.flops;
  r.bytes += tag.bytes;
}

void resolve_pending_locked(Profile& p) {
  for (const Pending& e : p.pending) {
    add_locked(p, e.tag, cuda_backend::event_elapsed_ms(e.start, e.end));
    cuda_backend::event_release(e.start);
    cuda_backend::event_release(e.end);
  }
  p.pending.clear();
}

std::string rate(const OpProfileRow& r) {
  char buf[32];
  const double seconds = r.ms * 1e-3;
  if (seconds <= 0) return "-";
  if (r.flops > 0 && r.flops / seconds >= 1e12) {
    std::snprintf(buf, sizeof buf, "%.2f TFLOP/s", r.flops / seconds * 1e-12);
  } else if (r.flops > 0) {
    std::snprintf(buf, sizeof buf, "%.1f GFLOP/s", r.flops / seconds * 1e-9);
  } else if (r.bytes > 0) {
    std::snprintf(buf, sizeof buf, "%.1f GB/s", r.bytes / seconds * 1e-9);
  } else {
    return "-";
  }
  return buf;
}

}  // namespace

bool profiling_enabled() { return enabled_flag().load(std::memory_order_relaxed); }
void set_profiling(bool on) { enabled_flag().store(on); }

OpTimer::OpTimer(const OpTag& tag, bool cuda) : tag_(tag), cuda_(cuda) {
  if (!profiling_enabled()) return;
  active_ = true;
  if (cuda_) {
    start_event_ = cuda_backend::event_record();
  } else {
    start_ns_ = now_ns();
  }
}

OpTimer::~OpTimer() {
  if (!active_) return;
  Profile& p = profile();
  if (cuda_) {
    void* end = cuda_backend::event_record();
    std::lock_guard<std::mutex> lock(p.mutex);
    p.pending.push_back({tag_, start_event_, end});
  } else {
    const double ms = double(now_ns() - start_ns_) * 1e-6;
    std::lock_guard<std::mutex> lock(p.mutex);
    add_locked(p, tag_, ms);
  }
}

std::vector<OpProfileRow> op_profile() {
  Profile& p = profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  resolve_pending_locked(p);
  std::vector<OpProfileRow> rows;
  for (const auto& [name, r] : p.rows) rows.push_back(r);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const OpProfileRow& a, const OpProfileRow& b) { return a.ms > b.ms; });
  return rows;
}

void reset_op_profile() {
  Profile& p = profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  resolve_pending_locked(p);  // returns their events to the pool
  p.rows.clear();
}

std::string op_profile_table() {
  const std::vector<OpProfileRow> rows = op_profile();
  double total = 0;
  size_t width = 8;
  for (const OpProfileRow& r : rows) {
    total += r.ms;
    width = std::max(width, r.name.size());
  }
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %8s %11s %10s %7s  %s\n", int(width), "op", "calls", "ms",
                "ms/call", "share", "rate");
  out += line;
  for (const OpProfileRow& r : rows) {
    std::snprintf(line, sizeof line, "%-*s %8lld %11.3f %10.4f %6.1f%%  %s\n", int(width),
                  r.name.c_str(), static_cast<long long>(r.calls), r.ms, r.ms / double(r.calls),
                  total > 0 ? 100.0 * r.ms / total : 0.0, rate(r).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "%-*s %8s %11.3f\n", int(width), "total", "", total);
  out += line;
  return out;
}

}  // namespace unet
