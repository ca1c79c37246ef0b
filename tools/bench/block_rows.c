// One thread's speed of the block-type row kernels: qkv_dot_rows_blocks (Sources/CQKVKernels/qkv_blocks.c,
// the default decode path, f32 activations) or, with argv[2] "q8", qkv_dot_rows_blocks_q8 (8-bit
// activations, qkv_blocks_q8.c; q8_0 too), at the kernel level argv[3] (1 AVX2, the default; 2 AVX-512,
// with VNNI where the CPU has it): a ROWS x 3072 matrix of random blocks per type, best of 30 products.
// ROWS (argv[1]) is 2048 by default (3-5 MB: out of L2 but in L3, the size of LLaMA-134M's MLP matrices);
// 16384 (26-44 MB) streams from memory, as a decode step does. tools/bench/block_rows.sh builds it
// against two revisions of the kernels, or runs it at both levels, and prints both.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "qkv_kernels.h"


static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    // qkv's dtype code, name, bytes per block, values per block (Specs/quantization.md).
    static const struct { int code; const char *name; size_t bytes, values; } types[] = {
        {32, "q8_0", 34, 32}, {33, "q4_0", 18, 32}, {34, "q4_1", 20, 32}, {35, "q5_0", 22, 32}, {36, "q5_1", 24, 32},
        {37, "q2_k", 84, 256}, {38, "q3_k", 110, 256}, {39, "q4_k", 144, 256}, {40, "q5_k", 176, 256},
        {41, "q6_k", 210, 256}, {42, "iq4_nl", 18, 32}, {43, "iq4_xs", 136, 256}};
    const size_t rows = argc > 1 ? (size_t)atol(argv[1]) : 2048, k = 3072;
    const int q8 = argc > 2 && strcmp(argv[2], "q8") == 0, level = argc > 3 ? atoi(argv[3]) : 1;
    float *x = malloc(k * sizeof(float)), *y = malloc(rows * sizeof(float));
    for (size_t i = 0; i < k; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    if (qkv_kernels_limit(level) != level) { fprintf(stderr, "block_rows: this CPU has no kernel level %d\n", level); return 2; }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        if (types[t].code == 32 && !q8) continue;   // q8_0's f32-activation kernel is qkv_dot_rows_q8_0
        const size_t row_bytes = k / types[t].values * types[t].bytes;
        uint8_t *w = malloc(rows * row_bytes);
        for (size_t i = 0; i < rows * row_bytes; i++) w[i] = (uint8_t)rand();
        double best = 1e9;
        for (int run = 0; run < 30; run++) {
            double start = now();
            if (q8) qkv_dot_rows_blocks_q8(types[t].code, w, row_bytes, x, y, 0, rows, k);
            else qkv_dot_rows_blocks(types[t].code, w, row_bytes, x, y, 0, rows, k);
            double seconds = now() - start;
            if (seconds < best) best = seconds;
        }
        printf("%s %.3f ms %.2f GB/s\n", types[t].name, best * 1e3, rows * row_bytes / best / 1e9);
        free(w);
    }
    return 0;
}
