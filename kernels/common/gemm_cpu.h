// Row-major single-precision GEMM for the CPU fast paths: C = alpha * op(A) * op(B) + beta * C.
// Uses OpenBLAS's cblas_sgemm when the build found it, otherwise a blocked OpenMP loop
// (correct everywhere, slower). Kernels call this, never cblas directly, so both builds work.
#pragma once

namespace unet::kernels {

// A is M x K (or K x M when trans_a), B is K x N (or N x K when trans_b), C is M x N.
// lda/ldb/ldc are row strides in elements, as in cblas with CblasRowMajor.
void sgemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// True when sgemm_cpu runs on OpenBLAS (reported by benchmarks).
bool sgemm_cpu_uses_openblas();

}  // namespace unet::kernels
