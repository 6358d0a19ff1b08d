#include "kernels/common/gemm_cpu.h"

#ifdef UNET_HAS_OPENBLAS
#include <cblas.h>
#endif

namespace unet::kernels {

bool sgemm_cpu_uses_openblas() {
#ifdef UNET_HAS_OPENBLAS
  return true;
#else
  return false;
#endif
}

void sgemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
#ifdef UNET_HAS_OPENBLAS
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
