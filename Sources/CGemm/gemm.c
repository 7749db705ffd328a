// A matrix product whose results are reproducible: see vc_gemm.h. OpenBLAS picks kernels and splits by the shape and
// the thread count, so a row's result there changes with the batch it sits in; a codec that must write the same bytes
// for the same image cannot use it.
#include "vc_gemm.h"
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

// Macros rather than functions: a 64-byte vector passed by value would change the calling convention per target.
#define splat16(x) ({ float x_ = (x); (v16){x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_, x_}; })
#define load16(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
// The first `count` lanes from x, the others 0.
#define tail16(x, count) ({ v16 v_ = {0}; for (int l_ = 0; l_ < (count); l_++) v_[l_] = (x)[l_]; v_; })
// Pairwise: lanes l + 8, then l + 4, l + 2, l + 1.
#define reduce16(s) ({ v16 s_ = (s); \
    v8 t_ = __builtin_shufflevector(s_, s_, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(s_, s_, 8, 9, 10, 11, 12, 13, 14, 15); \
    v4 u_ = __builtin_shufflevector(t_, t_, 0, 1, 2, 3) + __builtin_shufflevector(t_, t_, 4, 5, 6, 7); \
    v2 w_ = __builtin_shufflevector(u_, u_, 0, 1) + __builtin_shufflevector(u_, u_, 2, 3); \
    w_[0] + w_[1]; })

#define SUFFIX portable
#include "gemm_kernels.inc"
#undef SUFFIX

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define SUFFIX avx2
#include "gemm_kernels.inc"
#undef SUFFIX
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,fma"))), apply_to = function)
#define SUFFIX avx512
#include "gemm_kernels.inc"
#undef SUFFIX
#pragma clang attribute pop

typedef void (*Chains)(int, int, int, float, const float *, long, long, const float *, long, float, float *, long, float *, float *);
typedef void (*Dots)(int, int, int, float, const float *, long, const float *, long, float, float *, long);

static int isa(void) {
    static int chosen = -1;  // a benign race: every thread computes the same value
    if (chosen < 0) {
        __builtin_cpu_init();
        chosen = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") ? 2
               : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return chosen;
}

const char *vc_sgemm_isa(void) {
    static const char *names[] = {"portable", "avx2", "avx512"};
    return names[isa()];
}

void vc_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    static const Chains chains[] = {chains_portable, chains_avx2, chains_avx512};
    static const Dots dots[] = {dots_portable, dots_avx2, dots_avx512};
    int level = isa();
    if (transB) {
        if (transA) return;  // unsupported; the Swift wrapper refuses it first
        dots[level](m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else {
        size_t depth = k > 0 ? (size_t)k : 1;
        float *packedA = malloc(sizeof(float) * 6 * depth * (size_t)((m + 5) / 6)), *panel = malloc(sizeof(float) * 32 * depth);
        if (packedA && panel) chains[level](m, n, k, alpha, a, transA ? 1 : lda, transA ? lda : 1, b, ldb, beta, c, ldc, packedA, panel);
        else abort();  // as Swift does when an allocation fails
        free(packedA);
        free(panel);
    }
}
