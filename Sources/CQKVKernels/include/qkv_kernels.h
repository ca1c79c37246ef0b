// Kernels in C with x86 intrinsics: matrix-vector products for decoding from f16, bf16 and q8_0 weights
// in place (AVX-512 or AVX2 with FMA and F16C), products of a few tokens from W in place (where sgemm's
// packing of W cost as much as the arithmetic), and one attention head's scores and value mix. CRC-32 is
// in CQKVChecksum.
//
// Why C: Swift compiles for baseline x86-64 (SSE2) here, with no per-function target attribute, so it
// cannot use F16C's vcvtph2ps or 256-bit FMA; measured on one 3072 x 768 product, its kernels were 8.4x
// (f16) and 2.9x (q8_0) slower than these (Specs/benchmarks.md). Every function here requires
// qkv_kernels_supported() to have returned 1; QKVInference checks it once and otherwise uses its Swift
// kernels (MatrixVectorKernels.swift), which compute the same sums.
//
// Shapes follow MatrixVectorKernels.swift: W [rows, k] stored row-major, rows `row_bytes` apart; q8_0
// rows are k/32 blocks of 34 bytes (an f16 scale, then 32 int8). The caller guarantees every bound.
#ifndef QKV_KERNELS_H
#define QKV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has AVX2, FMA and F16C (the kernels below may run), else 0. Call it before any other.
int qkv_kernels_supported(void);
/// What this CPU can run: 2 for AVX-512 (F, BW and VL) as well, 1 for AVX2, 0 for none.
int qkv_kernels_detected(void);
/// 1 when this CPU also has AVX-512 VNNI's integer dot products (the AVX-512 level's 8-bit kernels use them).
int qkv_kernels_vnni(void);
/// 1 when this CPU also has AVX512_BF16's dot products (qkv_gemm_panels_bf16 runs at the AVX-512 level).
int qkv_kernels_bf16(void);
/// The level in use: 2 when the row kernels run sixteen lanes wide, 1 for AVX2, 0 before `qkv_kernels_limit`.
int qkv_kernels_level(void);
/// Uses the detected level, at most `max_level` (QKVInference once; tests and benchmarks that compare the
/// levels); returns the level now in use. Call it between kernel calls, not during them.
int qkv_kernels_limit(int max_level);
/// 1 when the one-token row kernels (qkv_dot_rows_f32/f16/bf16/q8_0) run sixteen lanes wide: at level 2,
/// by default on all but AMD processors, whose row kernels were faster eight lanes wide; 0 otherwise.
int qkv_kernels_wide_rows(void);
/// Whether level 2's row kernels run sixteen lanes wide: 1 always, 0 never, -1 by vendor (the default).
/// Call it between kernel calls, not during them.
void qkv_kernels_prefer_wide_rows(int choice);

/// y[r] = W[r, :] · x for r in [row_begin, row_end); W [*, k] of f32, f16 or bf16; x [k].
/// The three sum in the same order, so f16 and bf16 equal f32 on the widened W bit for bit.
void qkv_dot_rows_f32(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k);
void qkv_dot_rows_f16(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k);
void qkv_dot_rows_bf16(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k);
/// y[r] = W[r, :] · x for r in [row_begin, row_end); W [*, k] in q8_0 (k a multiple of 32).
void qkv_dot_rows_q8_0(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t k);

/// y[c] = Σ_i x[i] · W[i, c] for c in [column_begin, column_end); W [k, *] of f32, f16 or bf16.
void qkv_dot_columns_f32(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k);
void qkv_dot_columns_f16(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k);
void qkv_dot_columns_bf16(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k);
/// y[c] = Σ_i x[i] · W[i, c] for c in [column_begin, column_end) (multiples of 32); W [k, n] in q8_0.
void qkv_dot_columns_q8_0(const void *w, size_t n, const float *x, float *y, size_t column_begin, size_t column_end, size_t k);

/// Y[t, r] for t in [0, m), r in [row_begin, row_end): qkv_dot_rows_q8_0 for each of up to 8 tokens X [m, k]
/// (rows `ldx` apart; Y's `ldy` apart), each row of Y bit-identical to that call on its own x, each block of
/// W widened once for all of them (a batched decode step). Returns 0, computing nothing, for more tokens,
/// k not a multiple of 32, or where the one-token kernel runs sixteen lanes wide (qkv_kernels_wide_rows; it
/// sums in another order).
int qkv_gemm_rows_q8_0(const float *x, size_t ldx, size_t m, const void *w, size_t k, float *y, size_t ldy,
                       size_t row_begin, size_t row_end);

/// Y[t, j] = Σ_i X[t, i] · W[j, i] for t in [0, m), j in [row_begin, row_end): a few tokens X [m, k]
/// (rows `ldx` apart) through W [*, k] of f32, f16 or bf16, from W in place; Y's rows `ldy` apart.
/// Returns 0 and does nothing unless the C kernels (AVX2 or AVX-512) are in use and k is a positive
/// multiple of 16.
int qkv_gemm_rows_f32(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                      size_t ldy, size_t row_begin, size_t row_end);
int qkv_gemm_rows_f16(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                      size_t ldy, size_t row_begin, size_t row_end);
int qkv_gemm_rows_bf16(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                       size_t ldy, size_t row_begin, size_t row_end);

/// One query of one attention head (d a multiple of 8). scores[j] = scale · (q · K[j]) for keys
/// [positions, d] contiguous (a decoder's cache); or, for the encoder's transposed keys Kᵀ [d, width]
/// (width a multiple of 8), scores[j] = scale · Σ_c q[c] · Kᵀ[c, j]. After the caller's softmax,
/// z[c] = scale · Σ_j p[j] · V[j, c], V's rows `ldv` apart.
void qkv_attention_scores(const float *q, const float *keys, size_t positions, size_t d, float scale, float *scores);
void qkv_attention_scores_transposed(const float *q, const float *keys_t, size_t width, size_t d, float scale, float *scores);
void qkv_attention_mix(const float *p, const float *values, size_t ldv, size_t positions, size_t d, float scale, float *z);

/// out[0..<count] = the f16 or bf16 values at src, widened exactly (F16C; a NaN may come back quieted).
void qkv_widen_f16(const void *src, float *out, size_t count);
void qkv_widen_bf16(const void *src, float *out, size_t count);
/// out[0..<32·blocks] = the q8_0 blocks at src dequantized (scale · value, in f32).
void qkv_widen_q8_0(const void *src, float *out, size_t blocks);

/// y[r] = W[r, :] · x for r in [row_begin, row_end); W [*, k] in the qkv block dtype `dtype_code` (33 q4_0,
/// 34 q4_1, 35 q5_0, 36 q5_1, 37 q2_k, 38 q3_k, 39 q4_k, 40 q5_k, 41 q6_k, 42 iq4_nl, 43 iq4_xs; k a multiple
/// of its block size), rows `row_bytes` apart (qkv_blocks.c).
/// Each weight is dequantized as Specs/quantization.md says, then multiplied with x into four accumulators
/// of eight per row. Returns 0, computing nothing, for other dtypes or without AVX2 (the caller's Swift
/// kernel runs then).
int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k);

/// Y[t, r] for t in [0, m), r in [row_begin, row_end): qkv_dot_rows_blocks for each of a few tokens X [m, k]
/// (rows `ldx` apart; Y's `ldy` apart), each row of Y bit-identical to that call on its own x, with each
/// weight row dequantized once for up to eight tokens (a batched decode step, a short prompt). Returns 0,
/// computing nothing, where that call would.
int qkv_gemm_rows_blocks(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end);
/// out[0 ..< count · block values] = `count` consecutive blocks of the qkv block dtype `dtype_code` (as
/// qkv_dot_rows_blocks takes) dequantized: the f32 values BlockQuantization.swift makes (tiles for sgemm).
/// Returns 0, writing nothing, for other dtypes or without AVX2.
int qkv_widen_blocks(int dtype_code, const void *blocks, float *out, size_t count);

/// qkv_dot_rows_blocks with 8-bit activations (QKV_ACTIVATIONS=q8), for the same dtypes and q8_0 (32):
/// x quantized to blocks of 32 (32-value types) or 256 (K types, iq4_xs), d = max|x| / 127 and q = x / d
/// rounded to nearest, and multiplied with integer dot products, as llama.cpp does; faster, not exact
/// (Specs/quantization.md, "8-bit activations"). The AVX-512 level uses VNNI's dot products where the CPU
/// has them, with the same integer sums: y is bit-identical at either level (qkv_blocks_q8.c). Returns 0,
/// computing nothing, for other dtypes, k not a multiple of that block or above 65536, or without AVX2.
int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k);

/// Y[t, r] for t in [0, m), r in [row_begin, row_end): qkv_dot_rows_blocks_q8 for each of a few tokens X [m, k]
/// (rows `ldx` apart; Y's `ldy` apart), each row of Y bit-identical to that call on its own x, with each
/// pass of weight rows read once for all m tokens (a batched decode step). The tokens' 8-bit blocks go in
/// `scratch` (float-aligned, at least qkv_gemm_rows_blocks_q8_scratch(m, k) bytes). Returns 0, computing
/// nothing, where that call would or when the scratch is too small.
int qkv_gemm_rows_blocks_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                            float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes);
/// The scratch bytes qkv_gemm_rows_blocks_q8 needs for m tokens of k values (enough for every dtype).
size_t qkv_gemm_rows_blocks_q8_scratch(size_t m, size_t k);

/// Y[t, r] for t in [0, m), r in [row_begin, row_end): many tokens X [m, k] (a prompt; rows `ldx` apart, Y's
/// `ldy` apart) through W with 8-bit activations as qkv_dot_rows_blocks_q8 quantizes them, by VNNI dot
/// products on panels of sixteen weight rows unpacked once for all the tokens (qkv_blocks_q8.h). The same
/// integer sums as that call, but not its float rounding: not bit-identical to it. For every dtype that
/// call takes. `scratch` (float-aligned) holds the panel and as many tokens' 8-bit blocks as fit. Returns 0, computing nothing, below the AVX-512 level, without VNNI, for other
/// dtypes, k not a multiple of the activation block or above 65536, or a scratch too small for one token.
int qkv_gemm_panels_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                       float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes);
/// The scratch bytes qkv_gemm_panels_q8 needs to take m tokens of k values at once (a runnable dtype_code).
size_t qkv_gemm_panels_q8_scratch(int dtype_code, size_t m, size_t k);

/// Y[t, r] for t in [0, m), r in [row_begin, row_end): many tokens X [m, k] (rows `ldx` apart; Y's `ldy`
/// apart) through W [*, k] (rows `row_bytes` apart; bf16, or f32 when `f32_weights`, rounded to bf16 to
/// nearest even) with X rounded to bf16, by AVX512_BF16's vdpbf16ps on panels of sixteen weight rows copied
/// once for all the tokens (qkv_panels_bf16.c). vdpbf16ps treats subnormal inputs as zero. `scratch`
/// (float-aligned) holds the panel and as many tokens' bf16 values as fit. Returns 0, computing nothing,
/// below the AVX-512 level, without AVX512_BF16, for k not a positive multiple of 32, no tokens, or a
/// scratch too small for one token.
int qkv_gemm_panels_bf16(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes);
/// Y[t, c] = Σ_i X[t, i] · W[i, c] for c in [column_begin, column_end): the same through W [k, *] stored by
/// input (the attention output projection [H·d, D]), panels of sixteen of its columns. Returns 0 as above.
int qkv_gemm_panels_bf16_columns(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes,
                                 size_t k, float *y, size_t ldy, size_t column_begin, size_t column_end, void *scratch,
                                 size_t scratch_bytes);
/// The scratch bytes qkv_gemm_panels_bf16 and qkv_gemm_panels_bf16_columns need to take m tokens of k values at once.
size_t qkv_gemm_panels_bf16_scratch(size_t m, size_t k);

/// Makes OpenBLAS choose its kernels again, from OPENBLAS_CORETYPE as it is now (qkv_openblas.c). Call it
/// before any BLAS call. Returns 0 when this OpenBLAS has no such hook (nothing was done).
int qkv_openblas_reselect_kernels(void);
/// Stops OpenBLAS's thread pool (its threads exit; it starts again when a threaded product needs it).
/// Returns 0 when this OpenBLAS has no such hook (nothing was done).
int qkv_openblas_stop_threads(void);
/// 1 while OpenBLAS's thread pool runs, 0 once stopped, -1 when this OpenBLAS does not say.
int qkv_openblas_threads_running(void);

#endif
