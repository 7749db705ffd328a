#ifndef VC_GEMM_H
#define VC_GEMM_H

/// Row-major C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, with every element's sum fixed by (transA, transB, k)
/// alone: it does not depend on m, n, how the product is split across calls or threads, or the CPU's vector width.
/// - Not transposed B (NN, TN): c = fma chain over k = 0, 1, ..., k-1, from 0.
/// - Transposed B (NT): 16 fma chains, lane l over k ≡ l (mod 16), then summed pairwise (l + 8, l + 4, l + 2, l + 1).
/// Then c = alpha · sum, or alpha · sum + beta · c when beta ≠ 0. Transposed A with transposed B is not supported.
void vc_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/// The instruction set the kernels run on: "avx512", "avx2" or "portable".
const char *vc_sgemm_isa(void);

#endif
