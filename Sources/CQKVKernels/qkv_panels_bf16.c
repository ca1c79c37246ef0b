// Many tokens through bf16 or f32 weights with bf16 activations (ActivationPrecision.bf16), by AVX512_BF16's
// vdpbf16ps, as llama.cpp multiplies bf16 models. A panel of sixteen weight rows (or columns, for a W
// stored [inputs, outputs]) is copied once with its pairs of values interleaved: word c of the panel's
// lane r (values 2c and 2c + 1 of output r's weights) sits at panel[16c + r]; f32 weights are rounded to
// bf16 (to nearest even) as the panel is copied. One vdpbf16ps with a token's pair of values broadcast then
// adds two products for all sixteen outputs, lane r for output r, in f32; the panel serves every token.
// Twice the multiply-adds per instruction of an f32 FMA, at the cost of x (and f32 W) rounded to bf16:
// not the exact f32-activation product.
#include "qkv_kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include "qkv_blocks_common.h"

#define BF16_KERNEL __attribute__((target("avx512bf16,avx512vl,avx512bw,avx512f,avx2,fma")))

enum { PANEL_ROWS = 16, PANEL_TOKENS = 4 };

int qkv_kernels_bf16(void) { return qkv_kernels_detected() == 2 && __builtin_cpu_supports("avx512bf16"); }

// x [k] (k a multiple of 32) rounded to bf16, as k / 2 words of two values each (value 2c low).
BF16_KERNEL static void round_to_bf16(const float *x, size_t k, uint32_t *out) {
    for (size_t i = 0; i < k; i += 32) {
        const __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(out + i / 2), (__m512i)pairs);
    }
}

// Rows [row, row + count) of W [*, k] (bf16, rows row_bytes apart; count ≤ 16, the others zero) as a panel
// [k / 2][16] of words: eight rows at a time by word transposes, a partial panel word by word.
KERNEL static void pack_panel(const uint8_t *w, size_t row_bytes, size_t row, size_t count, size_t k, uint32_t *panel) {
    if (count == PANEL_ROWS) {
        interleave_rows(w + row * row_bytes, row_bytes, 2 * k, (uint8_t *)panel, 0);
        interleave_rows(w + (row + 8) * row_bytes, row_bytes, 2 * k, (uint8_t *)panel, 1);
        return;
    }
    for (size_t r = 0; r < PANEL_ROWS; r++) {
        if (r >= count) {
            for (size_t c = 0; c < k / 2; c++) panel[PANEL_ROWS * c + r] = 0;
            continue;
        }
        const uint8_t *src = w + (row + r) * row_bytes;
        for (size_t c = 0; c < k / 2; c++) memcpy(panel + PANEL_ROWS * c + r, src + 4 * c, 4);
    }
}

// Rows [row, row + count) of f32 W [*, k] (rows `row_bytes` apart) rounded to bf16 into `staging` [count][k]
// (k / 2 words a row), then packed as pack_panel packs bf16 rows.
BF16_KERNEL static void pack_panel_f32(const uint8_t *w, size_t row_bytes, size_t row, size_t count, size_t k, uint32_t *staging,
                                       uint32_t *panel) {
    for (size_t r = 0; r < count; r++) round_to_bf16((const float *)(w + (row + r) * row_bytes), k, staging + r * (k / 2));
    pack_panel((const uint8_t *)staging, 2 * k, 0, count, k, panel);
}

// Word order taking a vector of sixteen values of input 2c (words 0..15) and sixteen of input 2c + 1
// (words 16..31) to sixteen pairs, output j's at word pair j.
static const uint16_t pair_order[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                        8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

// Columns [column, column + count) of W [k, *] stored by input (f32 or bf16, rows `row_bytes` apart;
// count ≤ 16, the other lanes zero) as a panel [k / 2][16]: lane j's word c holds W [2c, column + j] (low)
// and W [2c + 1, column + j] (high).
BF16_KERNEL static void pack_panel_columns(const uint8_t *w, int f32_weights, size_t row_bytes, size_t column, size_t count,
                                           size_t k, uint32_t *panel) {
    const __mmask16 lanes = (__mmask16)((1u << count) - 1);
    const __m512i order = _mm512_loadu_si512((const void *)pair_order);
    for (size_t c = 0; c < k / 2; c++) {
        const uint8_t *even = w + 2 * c * row_bytes, *odd = even + row_bytes;
        __m512i both;
        if (f32_weights) {
            const __m512 a = _mm512_maskz_loadu_ps(lanes, (const float *)even + column);
            const __m512 b = _mm512_maskz_loadu_ps(lanes, (const float *)odd + column);
            both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
        } else {
            const __m256i a = _mm256_maskz_loadu_epi16(lanes, (const uint16_t *)even + column);
            const __m256i b = _mm256_maskz_loadu_epi16(lanes, (const uint16_t *)odd + column);
            both = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
        }
        _mm512_storeu_si512((void *)(panel + PANEL_ROWS * c), _mm512_permutexvar_epi16(order, both));
    }
}

// Y [t, row + r] for PANEL_TOKENS tokens' bf16 words xw[t] [k / 2] against one panel; lanes r ≥ count and
// tokens ≥ stored are not stored. Two accumulators per token (even and odd words), added at the end.
BF16_KERNEL static void panel_tokens(const uint32_t *panel, size_t k, const uint32_t *const xw[PANEL_TOKENS],
                                     float *const y[PANEL_TOKENS], size_t stored, size_t count) {
    __m512 even[PANEL_TOKENS], odd[PANEL_TOKENS];
    for (int t = 0; t < PANEL_TOKENS; t++) even[t] = odd[t] = _mm512_setzero_ps();
    for (size_t c = 0; c < k / 2; c += 2) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(panel + PANEL_ROWS * c));
        const __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(panel + PANEL_ROWS * c + PANEL_ROWS));
        for (int t = 0; t < PANEL_TOKENS; t++) {
            even[t] = _mm512_dpbf16_ps(even[t], w0, (__m512bh)_mm512_set1_epi32((int)xw[t][c]));
            odd[t] = _mm512_dpbf16_ps(odd[t], w1, (__m512bh)_mm512_set1_epi32((int)xw[t][c + 1]));
        }
    }
    const __mmask16 lanes = (__mmask16)((1u << count) - 1);
    for (size_t t = 0; t < stored; t++) _mm512_mask_storeu_ps(y[t], lanes, _mm512_add_ps(even[t], odd[t]));
}

// The scratch's share for the panel (and the f32 rows rounded before packing), and each token's (its bf16 words).
static size_t panel_bytes(size_t k) { return (PANEL_ROWS * k * 2 + 63) / 64 * 64; }
static size_t token_bytes(size_t k) { return k * 2; }

size_t qkv_gemm_panels_bf16_scratch(size_t m, size_t k) { return 2 * panel_bytes(k) + m * token_bytes(k); }

// Y [t, o] for outputs o in [begin, end): the panels of W's rows (by_columns 0) or of its columns (1), every
// token of X (as many at once as the scratch holds) through each.
static int run_panels(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, int by_columns, size_t row_bytes,
                      size_t k, float *y, size_t ldy, size_t begin, size_t end, void *scratch, size_t scratch_bytes) {
    if (qkv_kernels_level() < 2 || !qkv_kernels_bf16() || k == 0 || k % 32 != 0 || m == 0) return 0;
    if (scratch_bytes < 2 * panel_bytes(k) + token_bytes(k)) return 0;
    const size_t group = (scratch_bytes - 2 * panel_bytes(k)) / token_bytes(k);
    uint32_t *panel = scratch, *staging = (uint32_t *)((uint8_t *)scratch + panel_bytes(k));
    uint32_t *words = (uint32_t *)((uint8_t *)scratch + 2 * panel_bytes(k));
    for (size_t t0 = 0; t0 < m; t0 += group) {
        const size_t tokens = m - t0 < group ? m - t0 : group;
        for (size_t t = 0; t < tokens; t++) round_to_bf16(x + (t0 + t) * ldx, k, words + t * (k / 2));
        for (size_t o = begin; o < end; o += PANEL_ROWS) {
            const size_t count = end - o < PANEL_ROWS ? end - o : PANEL_ROWS;
            if (by_columns) pack_panel_columns(w, f32_weights, row_bytes, o, count, k, panel);
            else if (f32_weights) pack_panel_f32(w, row_bytes, o, count, k, staging, panel);
            else pack_panel(w, row_bytes, o, count, k, panel);
            for (size_t t1 = 0; t1 < tokens; t1 += PANEL_TOKENS) {
                const size_t stored = tokens - t1 < PANEL_TOKENS ? tokens - t1 : PANEL_TOKENS;
                const uint32_t *xw[PANEL_TOKENS];
                float *ty[PANEL_TOKENS];
                for (size_t i = 0; i < PANEL_TOKENS; i++) {
                    const size_t t = t1 + (i < stored ? i : 0);
                    xw[i] = words + t * (k / 2);
                    ty[i] = y + (t0 + t) * ldy + o;
                }
                panel_tokens(panel, k, xw, ty, stored, count);
            }
        }
    }
    return 1;
}

int qkv_gemm_panels_bf16(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) {
    return run_panels(x, ldx, m, w, f32_weights, 0, row_bytes, k, y, ldy, row_begin, row_end, scratch, scratch_bytes);
}

int qkv_gemm_panels_bf16_columns(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes,
                                 size_t k, float *y, size_t ldy, size_t column_begin, size_t column_end, void *scratch,
                                 size_t scratch_bytes) {
    return run_panels(x, ldx, m, w, f32_weights, 1, row_bytes, k, y, ldy, column_begin, column_end, scratch, scratch_bytes);
}

#else
int qkv_kernels_bf16(void) { return 0; }
size_t qkv_gemm_panels_bf16_scratch(size_t m, size_t k) { return 0; }
int qkv_gemm_panels_bf16(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) { return 0; }
int qkv_gemm_panels_bf16_columns(const float *x, size_t ldx, size_t m, const void *w, int f32_weights, size_t row_bytes,
                                 size_t k, float *y, size_t ldy, size_t column_begin, size_t column_end, void *scratch,
                                 size_t scratch_bytes) { return 0; }
#endif
