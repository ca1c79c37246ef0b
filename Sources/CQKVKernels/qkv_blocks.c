// AVX2/FMA matrix-vector products from ggml's block types q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k,
// q6_k, iq4_nl and iq4_xs (Specs/quantization.md), for decoding one token: each group of eight weights is
// dequantized in registers exactly as BlockQuantization.swift does it (separate multiplies, additions and
// subtractions, so the same f32 values), then multiplied with x into one accumulator of eight per row,
// whose lanes are summed at the end.
#include "qkv_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>
#include <math.h>

#define KERNEL __attribute__((target("avx2,fma,f16c")))

KERNEL static inline float block_sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// The f16 at p as f32 (exact; F16C).
KERNEL static inline float f16_at(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return _cvtsh_ss(bits);
}

// Eight bytes at p, zero-extended to eight int32 lanes.
KERNEL static inline __m256i u8x8(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

// q4_0 [18]: d, qs[16]; w = d · (nibble - 8). Values 0..15 are low nibbles, 16..31 high nibbles.
KERNEL static __m256 dot_block_q4_0(const uint8_t *b, const float *x, __m256 acc) {
    const __m256 d = _mm256_set1_ps(f16_at(b));
    const __m256i mask = _mm256_set1_epi32(0x0F), eight = _mm256_set1_epi32(8);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 2 + 8 * h);
        __m256 lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(q, mask), eight));
        __m256 hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, lo), _mm256_loadu_ps(x + 8 * h), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, hi), _mm256_loadu_ps(x + 16 + 8 * h), acc);
    }
    return acc;
}

// q4_1 [20]: d, m, qs[16] as q4_0; w = d · nibble + m.
KERNEL static __m256 dot_block_q4_1(const uint8_t *b, const float *x, __m256 acc) {
    const __m256 d = _mm256_set1_ps(f16_at(b)), m = _mm256_set1_ps(f16_at(b + 2));
    const __m256i mask = _mm256_set1_epi32(0x0F);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 4 + 8 * h);
        __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(q, mask));
        __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4));
        acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(d, lo), m), _mm256_loadu_ps(x + 8 * h), acc);
        acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(d, hi), m), _mm256_loadu_ps(x + 16 + 8 * h), acc);
    }
    return acc;
}

// q5_0 [22]: d, qh u32, qs[16]; w = d · ((nibble | bit(qh, j) << 4) - 16).
KERNEL static __m256 dot_block_q5_0(const uint8_t *b, const float *x, __m256 acc) {
    const __m256 d = _mm256_set1_ps(f16_at(b));
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    const __m256i mask = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1), sixteen = _mm256_set1_epi32(16);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bits = _mm256_set1_epi32((int)qh);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 6 + 8 * h);
        __m256i hb0 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(8 * h))), one);
        __m256i hb1 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(16 + 8 * h))), one);
        __m256i lo = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(q, mask), _mm256_slli_epi32(hb0, 4)), sixteen);
        __m256i hi = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(q, 4), _mm256_slli_epi32(hb1, 4)), sixteen);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)), _mm256_loadu_ps(x + 8 * h), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)), _mm256_loadu_ps(x + 16 + 8 * h), acc);
    }
    return acc;
}

// q5_1 [24]: d, m, qh u32, qs[16] as q5_0; w = d · (nibble | bit(qh, j) << 4) + m.
KERNEL static __m256 dot_block_q5_1(const uint8_t *b, const float *x, __m256 acc) {
    const __m256 d = _mm256_set1_ps(f16_at(b)), m = _mm256_set1_ps(f16_at(b + 2));
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    const __m256i mask = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bits = _mm256_set1_epi32((int)qh);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 8 + 8 * h);
        __m256i hb0 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(8 * h))), one);
        __m256i hb1 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(16 + 8 * h))), one);
        __m256i lo = _mm256_or_si256(_mm256_and_si256(q, mask), _mm256_slli_epi32(hb0, 4));
        __m256i hi = _mm256_or_si256(_mm256_srli_epi32(q, 4), _mm256_slli_epi32(hb1, 4));
        acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)), m), _mm256_loadu_ps(x + 8 * h), acc);
        acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)), m), _mm256_loadu_ps(x + 16 + 8 * h), acc);
    }
    return acc;
}

// The 16 levels of iq4_nl and iq4_xs, indexed by a nibble.
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// 16 bytes of nibbles at qs to their levels, as int8: *lo from the low nibbles (values 0..15 of the 32),
// *hi from the high ones (values 16..31). A byte shuffle is a 16-entry table lookup.
KERNEL static inline void iq4_lookup(const uint8_t *qs, __m128i *lo, __m128i *hi) {
    const __m128i table = _mm_loadu_si128((const __m128i *)iq4_levels), mask = _mm_set1_epi8(0x0F);
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    *lo = _mm_shuffle_epi8(table, _mm_and_si128(q, mask));
    *hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), mask));
}

// Levels i8[16] in v times d, against x[0..16]: w = d · level.
KERNEL static inline __m256 dot_levels16(__m128i v, __m256 d, const float *x, __m256 acc) {
    __m256 w0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)));
    __m256 w1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))));
    acc = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), acc);
    return _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + 8), acc);
}

// iq4_nl [18]: d, qs[16] as q4_0, each nibble indexing the 16 levels K; w = d · K[nibble].
KERNEL static __m256 dot_block_iq4_nl(const uint8_t *b, const float *x, __m256 acc) {
    const __m256 d = _mm256_set1_ps(f16_at(b));
    __m128i lo, hi;
    iq4_lookup(b + 2, &lo, &hi);
    acc = dot_levels16(lo, d, x, acc);
    return dot_levels16(hi, d, x + 16, acc);
}

// q2_k [84]: scales[16] (low nibble scale, high nibble min, per 16 values), qs[64], d, dmin; value
// 128·h + 32·l + m is bits 2l of qs[32·h + m]; w = (d · low(s)) · q - (dmin · high(s)), s = scales[i / 16].
KERNEL static __m256 dot_block_q2_k(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    const __m256i mask = _mm256_set1_epi32(3);
    for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 4; l++) {
            for (int m = 0; m < 32; m += 8) {
                const uint8_t s = b[8 * h + 2 * l + m / 16];
                const __m256 dl = _mm256_set1_ps(d * (float)(s & 0x0F)), ml = _mm256_set1_ps(dmin * (float)(s >> 4));
                __m256i q = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + 16 + 32 * h + m), 2 * l), mask);
                __m256 w = _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(q)), ml);
                acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 128 * h + 32 * l + m), acc);
            }
        }
    }
    return acc;
}

// q3_k [110]: hmask[32], qs[64] (low 2 bits as q2_k), 12 bytes of 16 six-bit scales, d; value
// 128·h + 32·l + m has high bit (hmask[m] >> (4h + l)) & 1 and q = low - (high ? 0 : 4);
// w = (d · (scale - 32)) · q, the scale of value i being scale i / 16.
KERNEL static __m256 dot_block_q3_k(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b + 108);
    const uint8_t *sc = b + 96;
    const __m256i mask = _mm256_set1_epi32(3), one = _mm256_set1_epi32(1), four = _mm256_set1_epi32(4);
    for (int h = 0; h < 2; h++) {
        for (int l = 0; l < 4; l++) {
            for (int m = 0; m < 32; m += 8) {
                const int s = 8 * h + 2 * l + m / 16;
                const int low = s < 8 ? sc[s] & 0x0F : sc[s - 8] >> 4, high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
                const __m256 dl = _mm256_set1_ps(d * (float)((low | high << 4) - 32));
                __m256i q = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + 32 + 32 * h + m), 2 * l), mask);
                __m256i hb = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + m), 4 * h + l), one);
                q = _mm256_sub_epi32(_mm256_add_epi32(q, _mm256_slli_epi32(hb, 2)), four);
                acc = _mm256_fmadd_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(q)), _mm256_loadu_ps(x + 128 * h + 32 * l + m), acc);
            }
        }
    }
    return acc;
}

// q4_k [144]: d, dmin, 12 bytes of 6-bit scales and mins, qs[128]; sub-block s (32 values) reads nibble
// s % 2 of qs[32·(s / 2) + m]; w = (d · sc) · q - (dmin · mn).
KERNEL static __m256 dot_block_q4_k(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sc = b + 4;
    const __m256i mask = _mm256_set1_epi32(0x0F);
    for (int s = 0; s < 8; s++) {
        uint8_t scale, min;
        if (s < 4) { scale = sc[s] & 63; min = sc[s + 4] & 63; }
        else { scale = (uint8_t)((sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4)); min = (uint8_t)((sc[s + 4] >> 4) | ((sc[s] >> 6) << 4)); }
        const __m256 d1 = _mm256_set1_ps(d * (float)scale), m1 = _mm256_set1_ps(dmin * (float)min);
        const uint8_t *qs = b + 16 + 32 * (s / 2);
        const int shift = 4 * (s & 1);
        for (int m = 0; m < 32; m += 8) {
            __m256i q = _mm256_and_si256(_mm256_srli_epi32(u8x8(qs + m), shift), mask);
            __m256 w = _mm256_sub_ps(_mm256_mul_ps(d1, _mm256_cvtepi32_ps(q)), m1);
            acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 32 * s + m), acc);
        }
    }
    return acc;
}

// q5_k [176]: as q4_k, with qh[32] at 16 (fifth bit of value 32·s + m: (qh[m] >> s) & 1) and qs at 48.
KERNEL static __m256 dot_block_q5_k(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16;
    const __m256i mask = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1);
    for (int s = 0; s < 8; s++) {
        uint8_t scale, min;
        if (s < 4) { scale = sc[s] & 63; min = sc[s + 4] & 63; }
        else { scale = (uint8_t)((sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4)); min = (uint8_t)((sc[s + 4] >> 4) | ((sc[s] >> 6) << 4)); }
        const __m256 d1 = _mm256_set1_ps(d * (float)scale), m1 = _mm256_set1_ps(dmin * (float)min);
        const uint8_t *qs = b + 48 + 32 * (s / 2);
        const int shift = 4 * (s & 1);
        for (int m = 0; m < 32; m += 8) {
            __m256i q = _mm256_and_si256(_mm256_srli_epi32(u8x8(qs + m), shift), mask);
            __m256i h = _mm256_and_si256(_mm256_srli_epi32(u8x8(qh + m), s), one);
            q = _mm256_or_si256(q, _mm256_slli_epi32(h, 4));
            __m256 w = _mm256_sub_ps(_mm256_mul_ps(d1, _mm256_cvtepi32_ps(q)), m1);
            acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 32 * s + m), acc);
        }
    }
    return acc;
}

// q6_k [210]: ql[128], qh[64], scales i8[16], d; value 128·h + r: nibble r / 64 of ql[64·h + r % 64],
// high bits 2·(r / 32) of qh[32·h + r % 32]; w = (d · sc) · (q - 32).
KERNEL static __m256 dot_block_q6_k(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b + 208);
    const __m256i mask4 = _mm256_set1_epi32(0x0F), mask2 = _mm256_set1_epi32(3), bias = _mm256_set1_epi32(32);
    for (int h = 0; h < 2; h++) {
        for (int r = 0; r < 128; r += 8) {
            const int i = 128 * h + r;
            const __m256 dsc = _mm256_set1_ps(d * (float)(int8_t)b[192 + i / 16]);
            __m256i low = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + 64 * h + r % 64), 4 * (r / 64)), mask4);
            __m256i high = _mm256_and_si256(_mm256_srli_epi32(u8x8(b + 128 + 32 * h + r % 32), 2 * (r / 32)), mask2);
            __m256i q = _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), bias);
            acc = _mm256_fmadd_ps(_mm256_mul_ps(dsc, _mm256_cvtepi32_ps(q)), _mm256_loadu_ps(x + i), acc);
        }
    }
    return acc;
}

// iq4_xs [136]: d, scales_h u16, scales_l[4], qs[128]; sub-block b (32 values) has the 6-bit scale
// ls = nibble b % 2 of scales_l[b / 2] | ((scales_h >> 2b) & 3) << 4 and its 16 bytes at qs[16·b] as
// iq4_nl's; w = (d · (ls - 32)) · K[nibble].
KERNEL static __m256 dot_block_iq4_xs(const uint8_t *b, const float *x, __m256 acc) {
    const float d = f16_at(b);
    uint16_t scales_h;
    memcpy(&scales_h, b + 2, 2);
    for (int s = 0; s < 8; s++) {
        const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0x0F) | ((scales_h >> (2 * s)) & 3) << 4;
        const __m256 dl = _mm256_set1_ps(d * (float)(ls - 32));
        __m128i lo, hi;
        iq4_lookup(b + 8 + 16 * s, &lo, &hi);
        acc = dot_levels16(lo, dl, x + 32 * s, acc);
        acc = dot_levels16(hi, dl, x + 32 * s + 16, acc);
    }
    return acc;
}

#define DOT_ROWS(name, block_values, block_bytes)                                                          \
    KERNEL static void dot_rows_##name(const uint8_t *w, size_t row_bytes, const float *x, float *y,         \
                                       size_t row_begin, size_t row_end, size_t k) {                         \
        const size_t blocks = k / block_values;                                                              \
        for (size_t r = row_begin; r < row_end; r++) {                                                       \
            const uint8_t *row = w + r * row_bytes;                                                          \
            __m256 acc = _mm256_setzero_ps();                                                                \
            for (size_t b = 0; b < blocks; b++) {                                                            \
                _mm_prefetch((const char *)row + (b + 8) * block_bytes, _MM_HINT_T0);                        \
                acc = dot_block_##name(row + b * block_bytes, x + b * block_values, acc);                    \
            }                                                                                                \
            y[r] = block_sum8(acc);                                                                          \
        }                                                                                                    \
    }

DOT_ROWS(q4_0, 32, 18)
DOT_ROWS(q4_1, 32, 20)
DOT_ROWS(q5_0, 32, 22)
DOT_ROWS(q5_1, 32, 24)
DOT_ROWS(iq4_nl, 32, 18)
DOT_ROWS(q2_k, 256, 84)
DOT_ROWS(q3_k, 256, 110)
DOT_ROWS(q4_k, 256, 144)
DOT_ROWS(q5_k, 256, 176)
DOT_ROWS(q6_k, 256, 210)
DOT_ROWS(iq4_xs, 256, 136)

int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k) {
    if (qkv_kernels_level() < 1) return 0;
    const uint8_t *base = (const uint8_t *)w;
    switch (dtype_code) {
    case 33: dot_rows_q4_0(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 34: dot_rows_q4_1(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 35: dot_rows_q5_0(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 36: dot_rows_q5_1(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 37: dot_rows_q2_k(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 38: dot_rows_q3_k(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 39: dot_rows_q4_k(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 40: dot_rows_q5_k(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 41: dot_rows_q6_k(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 42: dot_rows_iq4_nl(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    case 43: dot_rows_iq4_xs(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    default: return 0;
    }
}

// ---- 8-bit activations (QKV_ACTIVATIONS=q8): x quantized once per product, integer dot products ----

// x [k] as blocks of 256: d = max|x| / 127, q = x / d rounded to nearest (ties to even) in -127..127,
// bsums[16 per block] the sums of each 16 q. An all-zero block has d = 0.
static void quantize_x_q8(const float *x, size_t k, int8_t *q, float *d, int16_t *bsums) {
    for (size_t b = 0; b < k / 256; b++) {
        const float *xb = x + 256 * b;
        float amax = 0;
        for (int j = 0; j < 256; j++) { float a = fabsf(xb[j]); if (a > amax) amax = a; }
        d[b] = amax / 127.0f;
        const float id = amax > 0 ? 127.0f / amax : 0.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 16 * g; j < 16 * g + 16; j++) {
                float v = nearbyintf(xb[j] * id);
                int qv = v > 127 ? 127 : v < -127 ? -127 : (int)v;
                q[256 * b + j] = (int8_t)qv;
                sum += qv;
            }
            bsums[16 * b + g] = (int16_t)sum;
        }
    }
}

KERNEL static inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// One q4_k super-block · 256 q8 activations (scale dq, group sums bs[16]):
// dq · (d · Σ_s sc_s · Σ q4·q8 - dmin · Σ_s mn_s · Σ q8), the integer sums exact (maddubs pairs ≤ 3810).
KERNEL static float dot_q4_k_q8(const uint8_t *b, const int8_t *q, float dq, const int16_t *bs) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_setzero_si256();
    int mins = 0;
    for (int j = 0; j < 4; j++) {
        int scale[2], min[2];
        for (int h = 0; h < 2; h++) {
            const int s = 2 * j + h;
            if (s < 4) { scale[h] = sc[s] & 63; min[h] = sc[s + 4] & 63; }
            else { scale[h] = (sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4); min[h] = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4); }
            mins += min[h] * (bs[2 * s] + bs[2 * s + 1]);
        }
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        const __m256i lo = _mm256_and_si256(bytes, mask), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
        __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q + 64 * j)));
        __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 64 * j + 32)));
        plo = _mm256_madd_epi16(plo, _mm256_set1_epi16((short)scale[0]));
        phi = _mm256_madd_epi16(phi, _mm256_set1_epi16((short)scale[1]));
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(plo, phi));
    }
    return dq * (d * (float)hsum_i32x8(acc) - dmin * (float)mins);
}

int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) {
    if (qkv_kernels_level() < 1 || dtype_code != 39 || k % 256 != 0 || k > 65536) return 0;
    int8_t q[k];
    float d[k / 256];
    int16_t bs[k / 16];
    quantize_x_q8(x, k, q, d, bs);
    const uint8_t *base = (const uint8_t *)w;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = base + r * row_bytes;
        float sum = 0;
        for (size_t b = 0; b < k / 256; b++) {
            _mm_prefetch((const char *)row + (b + 4) * 144, _MM_HINT_T0);
            sum += dot_q4_k_q8(row + 144 * b, q + 256 * b, d[b], bs + 16 * b);
        }
        y[r] = sum;
    }
    return 1;
}

#else
int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k) { return 0; }
int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) { return 0; }
#endif
