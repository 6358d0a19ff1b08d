#include "tests/testing/testing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>

namespace unet::testing {

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<double> random_doubles(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> random_small_ints(size_t n, uint64_t seed, int lo, int hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(dist(rng));
  return v;
}

std::vector<float> distinct_floats(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = -1.0f + 2.0f * static_cast<float>(order[i]) / static_cast<float>(n);
  return v;
}

::testing::AssertionResult all_close(const float* got, const float* want, size_t n, float rtol,
                                     float atol, const std::string& what) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < n; ++i) {
    const double diff = std::fabs(double(got[i]) - double(want[i]));
    const double allowed = atol + rtol * std::fabs(double(want[i]));
    const bool ok = diff <= allowed;  // false for NaN too
    if (!ok) {
      ++bad;
      const double excess = std::isnan(diff) ? 1e300 : diff - allowed;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream msg;
  msg << what << ": " << bad << " of " << n << " elements differ (rtol " << rtol << ", atol "
      << atol << "); worst at index " << worst << ": got " << got[worst] << ", want "
      << want[worst];
  return ::testing::AssertionFailure() << msg.str();
}

::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want,
                                     float rtol, float atol, const std::string& what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": size " << got.size() << " != " << want.size();
  }
  return all_close(got.data(), want.data(), got.size(), rtol, atol, what);
}

::testing::AssertionResult bitwise_equal(const std::vector<float>& got,
                                         const std::vector<float>& want, const std::string& what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << what << ": size " << got.size() << " != " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << what << ": first difference at index " << i
                                           << ": got " << got[i] << ", want " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

std::vector<float> with_leading_zeros(int offset, const std::vector<float>& v) {
  std::vector<float> out(offset, 0.0f);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

std::vector<float> drop_leading(int offset, const std::vector<float>& v) {
  return std::vector<float>(v.begin() + offset, v.end());
}

void expect_invalid(const std::function<void()>& call, const std::string& needle) {
  expect_invalid(call, {needle});
}

void expect_invalid(const std::function<void()>& call, std::initializer_list<std::string> needles) {
  try {
    call();
    ADD_FAILURE() << "expected std::invalid_argument containing '" << *needles.begin() << "'";
  } catch (const std::invalid_argument& e) {
    for (const std::string& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

void expect_runtime_error(const std::function<void()>& call, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "expected std::runtime_error containing '" << needle << "'";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::string error_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

std::vector<double> numeric_gradient(const std::function<double()>& loss,
                                     std::vector<double>& params, double eps) {
  std::vector<double> grad(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const double saved = params[i];
    params[i] = saved + eps;
    const double up = loss();
    params[i] = saved - eps;
    const double down = loss();
    params[i] = saved;
    grad[i] = (up - down) / (2.0 * eps);
  }
  return grad;
}

::testing::AssertionResult gradients_match(const std::vector<double>& analytic,
                                           const std::vector<double>& numeric, double tol,
                                           const std::string& what) {
  if (analytic.size() != numeric.size()) {
    return ::testing::AssertionFailure()
           << what << ": size " << analytic.size() << " != " << numeric.size();
  }
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double a = analytic[i], n = numeric[i];
    const double scale = std::max({std::fabs(a), std::fabs(n), 1.0});
    if (!(std::fabs(a - n) <= tol * scale)) {
      return ::testing::AssertionFailure() << what << "[" << i << "]: analytic " << a
                                           << ", numeric " << n << " (tol " << tol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace unet::testing
