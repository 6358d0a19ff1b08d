// Shared test helpers: seeded random data, tensor comparison with a stated tolerance, central
// finite differences in double (the calculus oracle, DESIGN.md section 4).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace unet::testing {

// Uniform values in [lo, hi), deterministic for a given seed.
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
std::vector<double> random_doubles(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);
// Small integers in [lo, hi] stored as float: sums of their products are exact in fp32,
// so fast paths must match the reference bit for bit.
std::vector<float> random_small_ints(size_t n, uint64_t seed, int lo = -3, int hi = 3);
// Distinct values (a shuffled arithmetic sequence scaled into [-1, 1)): max-pool inputs without
// ties.
std::vector<float> distinct_floats(size_t n, uint64_t seed);

// The largest |v[i]| (0 for an empty vector): the scale of a tensor in tolerance formulas.
float max_abs(const std::vector<float>& v);

// `offset` zeros followed by v, and back: for misaligned-pointer cases (a kernel given
// buffer + offset must not assume 16-byte alignment).
std::vector<float> with_leading_zeros(int offset, const std::vector<float>& v);
std::vector<float> drop_leading(int offset, const std::vector<float>& v);

// Passes when |got - want| <= atol + rtol * |want| element-wise; on failure reports the count of
// bad elements, the worst index and both values. `what` names the tensor in the message.
::testing::AssertionResult all_close(const float* got, const float* want, size_t n, float rtol,
                                     float atol, const std::string& what = "tensor");
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want,
                                     float rtol, float atol, const std::string& what = "tensor");
// Bitwise equality (exact small-integer cases, determinism).
::testing::AssertionResult bitwise_equal(const std::vector<float>& got,
                                         const std::vector<float>& want,
                                         const std::string& what = "tensor");

// Expects `call` to throw std::invalid_argument whose message contains `needle`; a failure is
// reported in the calling test (used by the rejection-path tests of every kernel).
void expect_invalid(const std::function<void()>& call, const std::string& needle);
// The same with several parts that must all appear (for example the op name and the reason).
void expect_invalid(const std::function<void()>& call, std::initializer_list<std::string> needles);
// Expects `call` to throw std::runtime_error (CUDA-free builds, I/O failures) containing `needle`.
void expect_runtime_error(const std::function<void()>& call, const std::string& needle);
// The message of the std::exception `call` throws; a test failure and "" when it throws none.
std::string error_message(const std::function<void()>& call);

// Central finite differences of a scalar function of `params` (changed in place and restored).
std::vector<double> numeric_gradient(const std::function<double()>& loss,
                                     std::vector<double>& params, double eps = 1e-6);
// The gradient-check rule: |a - n| <= tol * max(|a|, |n|, 1) for every element.
::testing::AssertionResult gradients_match(const std::vector<double>& analytic,
                                           const std::vector<double>& numeric, double tol,
                                           const std::string& what = "gradient");

}  // namespace unet::testing
