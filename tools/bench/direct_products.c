// The measurement behind WeightMatrix.directTokens: qkv's C kernel for a few tokens through a Linear
// weight (qkv_gemm_rows_f32, reading W in place) against OpenBLAS's sgemm (which packs its share of W
// first), at 1 thread, on MiniLM's shapes (n x k: a thread's share of the output rows of W_Q/K/V, up and
// down at batch 1) and token counts m. W is cycled over 24 copies so it comes from L3, as in a
// sentence-by-sentence run. Built and run by tools/bench/direct_products.sh; prints a Markdown table.
#include "../../Sources/CQKVKernels/qkv_kernels.c"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    if (!qkv_kernels_supported() || qkv_kernels_level() < 2) { fprintf(stderr, "needs AVX-512\n"); return 2; }
    openblas_set_num_threads(1);
    const int shapes[][2] = {{192, 384}, {768, 384}, {192, 1536}};
    const int tokens[] = {8, 17, 34, 64, 96, 128, 256};
    const int copies = 24;
    srand(1);
    printf("| m x n x k | sgemm GFLOP/s | direct GFLOP/s | direct / sgemm |\n|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int n = shapes[s][0], k = shapes[s][1];
        float *w = aligned_alloc(64, (size_t)copies * n * k * sizeof(float));
        for (size_t i = 0; i < (size_t)copies * n * k; i++) w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++) {
            const int m = tokens[t];
            float *x = aligned_alloc(64, (size_t)m * k * sizeof(float)), *y = aligned_alloc(64, (size_t)m * n * sizeof(float));
            for (int i = 0; i < m * k; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
            double best[2] = {1e9, 1e9};
            for (int rep = 0; rep < 7; rep++) {
                for (int which = 0; which < 2; which++) {
                    const double start = now();
                    for (int c = 0; c < copies; c++) {
                        const float *wc = w + (size_t)c * n * k;
                        if (which == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, wc, k, 0, y, n);
                        else qkv_gemm_rows_f32(x, k, m, wc, (size_t)k * sizeof(float), k, y, n, 0, n);
                    }
                    const double elapsed = now() - start;
                    if (elapsed < best[which]) best[which] = elapsed;
                }
            }
            const double flops = 2.0 * m * n * k * copies;
            printf("| %d x %d x %d | %.1f | %.1f | %.2fx |\n", m, n, k, flops / best[0] / 1e9, flops / best[1] / 1e9, best[0] / best[1]);
            free(x);
            free(y);
        }
        free(w);
    }
    return 0;
}
