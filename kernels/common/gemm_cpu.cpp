#include "kernels/common/gemm_cpu.h"

#ifdef UNET_HAS_OPENBLAS
#include <cblas.h>
#endif
#include <omp.h>

#include <algorithm>

namespace unet::kernels {

bool sgemm_cpu_uses_openblas() {
#ifdef UNET_HAS_OPENBLAS
  return true;
#else
  return false;
#endif
}

#ifdef UNET_HAS_OPENBLAS
namespace {

// One thread pool, not two: OpenBLAS's own threads fight the OpenMP threads of the surrounding
// kernels (each pool spin-waits while the other runs; measured 2.7x slower training steps on two
// cores). So OpenBLAS runs single-threaded and sgemm_cpu splits C into one block per OpenMP thread:
// rows of C when M is the larger side, columns otherwise. Each element of C is still computed by
// one sequential dot product, so results do not depend on timing.
void openblas_single_threaded() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

void sgemm_block(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace
#endif

void sgemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
#ifdef UNET_HAS_OPENBLAS
  openblas_single_threaded();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const long work = static_cast<long>(M) * N * K;
  if (threads <= 1 || work < (1L << 18)) {
    sgemm_block(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool split_rows = M >= N;
  const int extent = split_rows ? M : N;
  // Blocks of a multiple of 16 rows/columns keep the GEMM micro-kernels on full tiles.
  const int block = std::max(16, (extent / threads + 15) / 16 * 16);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int begin = 0; begin < extent; begin += block) {
    const int len = std::min(block, extent - begin);
    if (split_rows) {
      const float* a = trans_a ? A + begin : A + static_cast<long>(begin) * lda;
      sgemm_block(trans_a, trans_b, len, N, K, alpha, a, lda, B, ldb, beta,
                  C + static_cast<long>(begin) * ldc, ldc);
    } else {
      const float* b = trans_b ? B + static_cast<long>(begin) * ldb : B + begin;
      sgemm_block(trans_a, trans_b, M, len, K, alpha, A, lda, b, ldb, beta, C + begin, ldc);
    }
  }
#else
  // Fallback: rows of C in parallel, k-outer so the inner loop streams a row of B.
#pragma omp parallel for schedule(static)
  for (int i = 0; i < M; ++i) {
    float* c_row = C + static_cast<long>(i) * ldc;
    for (int j = 0; j < N; ++j) c_row[j] = beta == 0.0f ? 0.0f : beta * c_row[j];
    for (int k = 0; k < K; ++k) {
      const float a =
          alpha * (trans_a ? A[static_cast<long>(k) * lda + i] : A[static_cast<long>(i) * lda + k]);
      if (a == 0.0f) continue;
      if (!trans_b) {
        const float* b_row = B + static_cast<long>(k) * ldb;
        for (int j = 0; j < N; ++j) c_row[j] += a * b_row[j];
      } else {
        for (int j = 0; j < N; ++j) c_row[j] += a * B[static_cast<long>(j) * ldb + k];
      }
    }
  }
#endif
}

}  // namespace unet::kernels
