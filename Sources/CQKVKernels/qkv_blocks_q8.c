// 8-bit activations (QKV_ACTIVATIONS=q8): x quantized once per product, integer dot products.
//
// x [k] is quantized in blocks of n values (n = 32 for the 32-value types, 256 for the K types and
// iq4_xs): d = max|x| / 127 in f32, q = x / d rounded to nearest (ties to even) in -127..127, q = 0 where
// d is 0; and the sums of each g q (g = 32 for the 32-value types, 16 for the others). A block's product
// is then d_x · d_w · (an exact integer sum of weight quants times q), a weight's offsets or mins entering
// through the q sums; maddubs never saturates (each pair of products is at most 2·128·127 < 2^15). The row
// kernels (qkv_blocks_q8.h) are built here for AVX2 and in qkv_blocks_q8_vnni.c for AVX-512 VNNI, which
// the AVX-512 level uses where the CPU has it.
#include "qkv_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define QKV_Q8_VNNI 0
#include "qkv_blocks_q8.h"

KERNEL static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// x [k] as blocks of n: q [k], d [k / n], sums [k / g] (n, g as above; x finite). Eight values at a time:
// q = x / d rounded to nearest even, clamped, packed to bytes.
KERNEL static void quantize_x_q8(const float *x, size_t k, size_t n, size_t g, int8_t *q, float *d, int16_t *sums) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i hi = _mm256_set1_epi32(127), lo = _mm256_set1_epi32(-127);
    for (size_t b = 0; b < k / n; b++) {
        const float *xb = x + n * b;
        __m256 amax = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j += 8) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
        const float db = hmax8(amax) / 127.0f;
        d[b] = db;
        const __m256 dv = _mm256_set1_ps(db);
        for (size_t j = 0; j < n; j += 8) {
            __m256i v = _mm256_setzero_si256();
            if (db > 0) {
                const __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(xb + j), dv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v = _mm256_max_epi32(lo, _mm256_min_epi32(hi, _mm256_cvtps_epi32(r)));
            }
            const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(q + n * b + j), _mm_packs_epi16(w, w));
        }
    }
    for (size_t s = 0; s < k / g; s++) {
        int sum = 0;
        for (size_t j = 0; j < g; j++) sum += q[g * s + j];
        sums[s] = (int16_t)sum;
    }
}

// The values per activation scale for dtype_code's kernel: 32 for the 32-value types, 256 for the others.
static size_t activation_block(int dtype_code) {
    switch (dtype_code) {
    case 32: case 33: case 34: case 35: case 36: case 42: return 32;
    default: return 256;
    }
}

// dtype_code's row kernel at the level in use: VNNI's at the AVX-512 level where the CPU has it; NULL
// below AVX2 or for dtypes without one.
static dot_rows_q8_fn q8_rows(int dtype_code) {
    const int level = qkv_kernels_level();
    if (level < 1) return NULL;
    if (level >= 2 && __builtin_cpu_supports("avx512vnni")) return qkv_q8_rows_vnni(dtype_code);
    return qkv_q8_rows_avx2(dtype_code);
}

int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) {
    const dot_rows_q8_fn rows = q8_rows(dtype_code);
    const size_t n = activation_block(dtype_code), g = n == 32 ? 32 : 16;
    if (!rows || k % n != 0 || k > 65536) return 0;
    int8_t q[k];
    float dx[k / n];
    int16_t sums[k / g];
    quantize_x_q8(x, k, n, g, q, dx, sums);
    rows((const uint8_t *)w, row_bytes, q, dx, sums, y, row_begin, row_end, k);
    return 1;
}

// Weight rows per pass of qkv_gemm_rows_blocks_q8: few enough that a pass's blocks stay in L1/L2 while
// every token's row of x runs over them.
enum { Q8_GEMM_ROWS = 8 };

int qkv_gemm_rows_blocks_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                            float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) {
    const dot_rows_q8_fn rows = q8_rows(dtype_code);
    const size_t n = activation_block(dtype_code), g = n == 32 ? 32 : 16;
    if (!rows || k % n != 0 || k > 65536 || m == 0 ||
        scratch_bytes < qkv_gemm_rows_blocks_q8_scratch(m, k)) return 0;
    // The scratch as m scales [k / n] (f32, first: scratch is float-aligned), q sums [k / g] and quants [k].
    float *dx = scratch;
    int16_t *sums = (int16_t *)(dx + m * (k / n));
    int8_t *q = (int8_t *)(sums + m * (k / g));
    for (size_t t = 0; t < m; t++) quantize_x_q8(x + t * ldx, k, n, g, q + t * k, dx + t * (k / n), sums + t * (k / g));
    for (size_t r = row_begin; r < row_end; r += Q8_GEMM_ROWS) {
        const size_t end = r + Q8_GEMM_ROWS < row_end ? r + Q8_GEMM_ROWS : row_end;
        for (size_t t = 0; t < m; t++) rows((const uint8_t *)w, row_bytes, q + t * k, dx + t * (k / n), sums + t * (k / g), y + t * ldy, r, end, k);
    }
    return 1;
}

// The panel's share of qkv_gemm_panels_q8's scratch, and each token's (its scales, q sums and quants).
static size_t panel_scratch_bytes(int dtype_code, size_t k) { return (qkv_q8_panel_bytes(dtype_code, k) + 63) / 64 * 64; }
static size_t panel_token_bytes(int dtype_code, size_t k) {
    const size_t n = activation_block(dtype_code), g = n == 32 ? 32 : 16;
    return (k / n) * sizeof(float) + (k / g + 2) * sizeof(int16_t) + k;
}

size_t qkv_gemm_panels_q8_scratch(int dtype_code, size_t m, size_t k) {
    return panel_scratch_bytes(dtype_code, k) + m * panel_token_bytes(dtype_code, k);
}

int qkv_gemm_panels_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                       float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) {
    if (qkv_kernels_level() < 2 || !__builtin_cpu_supports("avx512vnni")) return 0;
    const qkv_q8_panel_gemm_fn gemm = qkv_q8_panel_gemm_vnni(dtype_code);
    const size_t n = activation_block(dtype_code), g = n == 32 ? 32 : 16;
    if (!gemm || k % n != 0 || k > 65536 || m == 0) return 0;
    // The scratch as the panel, then a group of tokens: scales [k / n] (f32), q sums [k / g + 2] and quants [k] each.
    const size_t panel_bytes = panel_scratch_bytes(dtype_code, k), token_bytes = panel_token_bytes(dtype_code, k);
    if (scratch_bytes < panel_bytes + token_bytes) return 0;
    const size_t group = (scratch_bytes - panel_bytes) / token_bytes;
    uint8_t *panel = scratch;
    float *dx = (float *)(panel + panel_bytes);
    for (size_t t0 = 0; t0 < m; t0 += group) {
        const size_t count = m - t0 < group ? m - t0 : group;
        int16_t *sums = (int16_t *)(dx + count * (k / n));
        int8_t *q = (int8_t *)(sums + count * (k / g + 2));
        for (size_t t = 0; t < count; t++) {
            int16_t *ts = sums + t * (k / g + 2);
            quantize_x_q8(x + (t0 + t) * ldx, k, n, g, q + t * k, dx + t * (k / n), ts);
            ts[k / g] = ts[k / g + 1] = 0;
        }
        gemm(q, dx, sums, count, (const uint8_t *)w, row_bytes, k, y + t0 * ldy, ldy, row_begin, row_end, panel);
    }
    return 1;
}

#else
size_t qkv_gemm_panels_q8_scratch(int dtype_code, size_t m, size_t k) { return 0; }
int qkv_gemm_panels_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                       float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) { return 0; }
int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) { return 0; }
int qkv_gemm_rows_blocks_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                            float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) { return 0; }
#endif

size_t qkv_gemm_rows_blocks_q8_scratch(size_t m, size_t k) { return m * (k / 32 * sizeof(float) + k / 16 * sizeof(int16_t) + k); }
