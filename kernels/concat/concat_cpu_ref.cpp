// concat CPU naive reference: one loop over pixels and channels, the spec for the fast paths.
// Bytes (fp32): 8*pixels*(C1+C2) per pass (every element read once and written once).

#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/concat/concat.h"
#include "kernels/concat/concat_check.h"

namespace unet::kernels {
namespace detail {

void concat_check_args(const char* op, const ConcatShape& s,
                       std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  auto fail = [&](const std::string& what) {
    std::ostringstream o;
    o << op << ": " << what << " (shape pixels=" << s.pixels << " C1=" << s.C1 << " C2=" << s.C2
      << ")";
    throw std::invalid_argument(o.str());
  };
  if (s.pixels < 0) fail("pixels must be >= 0");
  if (s.C1 < 1 || s.C2 < 1) fail("channel counts C1 and C2 must both be >= 1");
  if (s.pixels == 0) return;  // nothing is read or written, so null buffers are fine
  for (const auto& [name, ptr] : ptrs) {
    if (ptr == nullptr) fail(std::string(name) + " is null; pass a buffer of the shape's size");
  }
}

}  // namespace detail

template <typename T>
void concat_forward_ref(const ConcatShape& s, const T* a, const T* b, T* y) {
  detail::concat_check_args("concat_forward_ref", s, {{"a", a}, {"b", b}, {"y", y}});
  const int C = s.C1 + s.C2;
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      y[p * C + c] = c < s.C1 ? a[p * s.C1 + c] : b[p * s.C2 + (c - s.C1)];
    }
  }
}

template <typename T>
void concat_backward_ref(const ConcatShape& s, const T* dy, T* da, T* db) {
  detail::concat_check_args("concat_backward_ref", s, {{"dy", dy}, {"da", da}, {"db", db}});
  const int C = s.C1 + s.C2;
  for (int64_t p = 0; p < s.pixels; ++p) {
    for (int c = 0; c < C; ++c) {
      if (c < s.C1) {
        da[p * s.C1 + c] = dy[p * C + c];
      } else {
        db[p * s.C2 + (c - s.C1)] = dy[p * C + c];
      }
    }
  }
}

template void concat_forward_ref<float>(const ConcatShape&, const float*, const float*, float*);
template void concat_forward_ref<double>(const ConcatShape&, const double*, const double*, double*);
template void concat_backward_ref<float>(const ConcatShape&, const float*, float*, float*);
template void concat_backward_ref<double>(const ConcatShape&, const double*, double*, double*);

}  // namespace unet::kernels
