// AVX2/FMA matrix-vector products from ggml's block types q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k,
// q6_k, iq4_nl and iq4_xs (Specs/quantization.md), for decoding one token: each weight is dequantized in
// registers exactly as BlockQuantization.swift does it (separate multiplies, additions and subtractions,
// so the same f32 values), then multiplied with x into four accumulators of eight per row (four
// independent chains of FMAs: with one, each FMA waited for the previous one's latency), whose lanes are
// summed at the end. The K types first unpack a block's 256 quants to bytes, 32 at a time with byte
// operations, and its scales to floats, then widen eight bytes at a time from there: unpacking eight
// values within 32-bit lanes cost more than their arithmetic. A decode step streams the weights from
// memory, so the rows are prefetched PREFETCH_BYTES ahead (qkv_prefetch.h).
#include "qkv_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>
#include <math.h>
#include "qkv_prefetch.h"

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

// 32 bytes at p.
KERNEL static inline __m256i bytes32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

// Eight int8 at p, sign-extended to eight floats (exact).
KERNEL static inline __m256 i8x8_ps(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

// ---- Each type's weights: a block's values as the same f32 values BlockQuantization.swift computes ----
//
// The 32-value types and iq4_xs make them eight at a time in registers (`w[c]`: values 8c ..< 8c + 8 of 32).
// The K types unpack their 256 quants to bytes in q[] and their scales (and mins) to floats per group of
// 16 values, ds[g] (ms[g]); value i is then ds[i / 16] · q[i] (- ms[i / 16]). Both the one-token kernels
// (dot_block_*) and the few-token ones (dequant_block_*, for gemm_rows_*) take their weights from here,
// so the two compute the same products.

// The weights of values 8c ..< 8c + 8 of a K block unpacked to q, with their group's scale d (and min m,
// with `mins`).
KERNEL static inline __attribute__((always_inline)) __m256 k_weights8(const int8_t *q, int c, __m256 d, __m256 m, int mins) {
    const __m256 w = _mm256_mul_ps(d, i8x8_ps(q + 8 * c));
    return mins ? _mm256_sub_ps(w, m) : w;
}

// The dot of a K block unpacked to q, ds, ms (NULL: none) with x[256], a scale (and min) per `group`
// values (16 or 32), chunk c of eight values into acc[c % 4]; four chunks per pass keep the accumulator
// indices constant.
KERNEL static inline __attribute__((always_inline)) void dot_k(const int8_t *q, const float *ds, const float *ms, int group,
                                                               const float *x, __m256 *acc) {
    const __m256 zero = _mm256_setzero_ps();
    for (int c = 0; c < 32; c += 4) {
        const int g = 8 * c / group;
        const __m256 d0 = _mm256_broadcast_ss(ds + g), m0 = ms ? _mm256_broadcast_ss(ms + g) : zero;
        const __m256 d1 = group == 32 ? d0 : _mm256_broadcast_ss(ds + g + 1);
        const __m256 m1 = group == 32 || !ms ? m0 : _mm256_broadcast_ss(ms + g + 1);
        for (int j = 0; j < 4; j++)
            acc[j] = _mm256_fmadd_ps(k_weights8(q, c + j, j < 2 ? d0 : d1, j < 2 ? m0 : m1, ms != NULL), _mm256_loadu_ps(x + 8 * (c + j)), acc[j]);
    }
}

// The 256 weights of a K block unpacked to q, ds, ms (NULL: none), a scale per `group` values, to w[256].
KERNEL static inline __attribute__((always_inline)) void dequant_k(const int8_t *q, const float *ds, const float *ms, int group, float *w) {
    const __m256 zero = _mm256_setzero_ps();
    for (int c = 0; c < 32; c++) {
        const int g = 8 * c / group;
        const __m256 d = _mm256_broadcast_ss(ds + g), m = ms ? _mm256_broadcast_ss(ms + g) : zero;
        _mm256_storeu_ps(w + 8 * c, k_weights8(q, c, d, m, ms != NULL));
    }
}

// f · v[i] for eight int32 v, stored to out[8] (each product rounded once, as the scalar form).
KERNEL static inline void scale8(float f, const int32_t *v, float *out) {
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(f), _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)v))));
}

// q4_0 [18]: d, qs[16]; w = d · (nibble - 8). Values 0..15 are low nibbles, 16..31 high nibbles.
KERNEL static inline __attribute__((always_inline)) void weights_q4_0(const uint8_t *b, __m256 *w) {
    const __m256 d = _mm256_set1_ps(f16_at(b));
    const __m256i mask = _mm256_set1_epi32(0x0F), eight = _mm256_set1_epi32(8);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 2 + 8 * h);
        w[h] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(q, mask), eight)));
        w[2 + h] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight)));
    }
}

// q4_1 [20]: d, m, qs[16] as q4_0; w = d · nibble + m.
KERNEL static inline __attribute__((always_inline)) void weights_q4_1(const uint8_t *b, __m256 *w) {
    const __m256 d = _mm256_set1_ps(f16_at(b)), m = _mm256_set1_ps(f16_at(b + 2));
    const __m256i mask = _mm256_set1_epi32(0x0F);
    for (int h = 0; h < 2; h++) {
        __m256i q = u8x8(b + 4 + 8 * h);
        w[h] = _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(q, mask))), m);
        w[2 + h] = _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4))), m);
    }
}

// Values 8h ..< 8h + 8 and 16 + 8h ..< 24 + 8h of a q5_0/q5_1 block as 0..31: nibble | bit(qh, j) << 4.
KERNEL static inline __attribute__((always_inline)) void q5_values(const uint8_t *qs, uint32_t qh, int h, __m256i *lo, __m256i *hi) {
    const __m256i mask = _mm256_set1_epi32(0x0F), one = _mm256_set1_epi32(1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bits = _mm256_set1_epi32((int)qh);
    __m256i q = u8x8(qs + 8 * h);
    __m256i hb0 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(8 * h))), one);
    __m256i hb1 = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_add_epi32(lanes, _mm256_set1_epi32(16 + 8 * h))), one);
    *lo = _mm256_or_si256(_mm256_and_si256(q, mask), _mm256_slli_epi32(hb0, 4));
    *hi = _mm256_or_si256(_mm256_srli_epi32(q, 4), _mm256_slli_epi32(hb1, 4));
}

// q5_0 [22]: d, qh u32, qs[16]; w = d · ((nibble | bit(qh, j) << 4) - 16).
KERNEL static inline __attribute__((always_inline)) void weights_q5_0(const uint8_t *b, __m256 *w) {
    const __m256 d = _mm256_set1_ps(f16_at(b));
    const __m256i sixteen = _mm256_set1_epi32(16);
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    for (int h = 0; h < 2; h++) {
        __m256i lo, hi;
        q5_values(b + 6, qh, h, &lo, &hi);
        w[h] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(lo, sixteen)));
        w[2 + h] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(hi, sixteen)));
    }
}

// q5_1 [24]: d, m, qh u32, qs[16] as q5_0; w = d · (nibble | bit(qh, j) << 4) + m.
KERNEL static inline __attribute__((always_inline)) void weights_q5_1(const uint8_t *b, __m256 *w) {
    const __m256 d = _mm256_set1_ps(f16_at(b)), m = _mm256_set1_ps(f16_at(b + 2));
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    for (int h = 0; h < 2; h++) {
        __m256i lo, hi;
        q5_values(b + 8, qh, h, &lo, &hi);
        w[h] = _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(lo)), m);
        w[2 + h] = _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(hi)), m);
    }
}

// The 16 levels of iq4_nl and iq4_xs, indexed by a nibble.
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// 32 values from 16 bytes of nibbles at qs (low nibbles values 0..15, high ones 16..31), each the level
// its nibble indexes times d; a byte shuffle is the 16-entry table lookup.
KERNEL static inline __attribute__((always_inline)) void weights_iq4(const uint8_t *qs, __m256 d, __m256 *w) {
    const __m128i table = _mm_loadu_si128((const __m128i *)iq4_levels), mask = _mm_set1_epi8(0x0F);
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(q, mask));
    const __m128i hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), mask));
    w[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
    w[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
    w[2] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
    w[3] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
}

// iq4_nl [18]: d, qs[16] as q4_0, each nibble indexing the 16 levels K; w = d · K[nibble].
KERNEL static inline __attribute__((always_inline)) void weights_iq4_nl(const uint8_t *b, __m256 *w) {
    weights_iq4(b + 2, _mm256_set1_ps(f16_at(b)), w);
}

// iq4_xs [136]: d, scales_h u16, scales_l[4], qs[128]; sub-block s (32 values) has the 6-bit scale
// ls = nibble s % 2 of scales_l[s / 2] | ((scales_h >> 2s) & 3) << 4 and its 16 bytes at qs[16·s] as
// iq4_nl's; w = (d · (ls - 32)) · K[nibble]. Values 32s + 8c ..< 32s + 8c + 8 to w[c].
KERNEL static inline __attribute__((always_inline)) void weights_iq4_xs(const uint8_t *b, int s, __m256 *w) {
    uint16_t scales_h;
    memcpy(&scales_h, b + 2, 2);
    const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0x0F) | ((scales_h >> (2 * s)) & 3) << 4;
    weights_iq4(b + 8 + 16 * s, _mm256_set1_ps(f16_at(b) * (float)(ls - 32)), w);
}

// q2_k [84]: scales[16] (low nibble scale, high nibble min, per 16 values), qs[64], d, dmin; value
// 128·h + 32·l + m is bits 2l of qs[32·h + m]; w = (d · low(s)) · q - (dmin · high(s)), s = scales[i / 16].
// (16-bit shifts by 2l < 8 keep each byte's own bits.)
KERNEL static inline __attribute__((always_inline)) void unpack_q2_k(const uint8_t *b, int8_t *q, float *ds, float *ms) {
    const __m256i mask = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i qs = bytes32(b + 16 + 32 * h);
        for (int l = 0; l < 4; l++)
            _mm256_store_si256((__m256i *)(q + 128 * h + 32 * l), _mm256_and_si256(_mm256_srli_epi16(qs, 2 * l), mask));
    }
    const __m128i packed = _mm_loadu_si128((const __m128i *)b), m4 = _mm_set1_epi8(0x0F);
    const __m128i scales = _mm_and_si128(packed, m4), mins = _mm_and_si128(_mm_srli_epi16(packed, 4), m4);
    const __m256 d = _mm256_set1_ps(f16_at(b + 80)), dmin = _mm256_set1_ps(f16_at(b + 82));
    _mm256_storeu_ps(ds, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scales))));
    _mm256_storeu_ps(ds + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scales, 8)))));
    _mm256_storeu_ps(ms, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mins))));
    _mm256_storeu_ps(ms + 8, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(mins, 8)))));
}

// q3_k [110]: hmask[32], qs[64] (low 2 bits as q2_k), 12 bytes of 16 six-bit scales, d; value
// 128·h + 32·l + m has high bit (hmask[m] >> (4h + l)) & 1 and q = low - (high ? 0 : 4);
// w = (d · (scale - 32)) · q, the scale of value i being scale i / 16.
KERNEL static inline __attribute__((always_inline)) void unpack_q3_k(const uint8_t *b, int8_t *q, float *ds, float *unused_mins) {
    (void)unused_mins;
    int32_t scales[16];
    const __m256i mask = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4), hmask = bytes32(b);
    for (int h = 0; h < 2; h++) {
        const __m256i qs = bytes32(b + 32 + 32 * h);
        for (int l = 0; l < 4; l++) {
            // Bit 4h + l of each hmask byte to bit 2 (16-bit shifts by at most 5 keep each byte's own bits there).
            const int bit = 4 * h + l;
            const __m256i high = bit >= 2 ? _mm256_srli_epi16(hmask, bit - 2) : _mm256_slli_epi16(hmask, 2 - bit);
            const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * l), mask);
            _mm256_store_si256((__m256i *)(q + 128 * h + 32 * l), _mm256_sub_epi8(_mm256_or_si256(low, _mm256_and_si256(high, bit2)), bit2));
        }
    }
    const uint8_t *sc = b + 96;
    for (int s = 0; s < 16; s++) {
        const int low = s < 8 ? sc[s] & 0x0F : sc[s - 8] >> 4, high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
        scales[s] = (low | high << 4) - 32;
    }
    const float d = f16_at(b + 108);
    scale8(d, scales, ds); scale8(d, scales + 8, ds + 8);
}

// The 6-bit scale and min of q4_k's and q5_k's sub-block s from their 12 bytes.
static inline void k_scale_min(const uint8_t *sc, int s, int *scale, int *min) {
    if (s < 4) { *scale = sc[s] & 63; *min = sc[s + 4] & 63; }
    else { *scale = (sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4); *min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4); }
}

// d · scale and dmin · min of q4_k's and q5_k's block b per sub-block of 32 values, ds[8] and ms[8].
KERNEL static inline __attribute__((always_inline)) void k_scales_mins(const uint8_t *b, float *ds, float *ms) {
    int32_t scales[8] __attribute__((aligned(32))), mins[8] __attribute__((aligned(32)));
    for (int s = 0; s < 8; s++) k_scale_min(b + 4, s, &scales[s], &mins[s]);
    scale8(f16_at(b), scales, ds);
    scale8(f16_at(b + 2), mins, ms);
}

// q4_k [144]: d, dmin, 12 bytes of 6-bit scales and mins, qs[128]; sub-block s (32 values) reads nibble
// s % 2 of qs[32·(s / 2) + m]; w = (d · sc) · q - (dmin · mn).
KERNEL static inline __attribute__((always_inline)) void unpack_q4_k(const uint8_t *b, int8_t *q, float *ds, float *ms) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int p = 0; p < 4; p++) {   // sub-blocks 2p (low nibbles) and 2p + 1 (high nibbles) share qs[32p ..< 32p + 32]
        const __m256i qs = bytes32(b + 16 + 32 * p);
        _mm256_store_si256((__m256i *)(q + 64 * p), _mm256_and_si256(qs, m4));
        _mm256_store_si256((__m256i *)(q + 64 * p + 32), _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4));
    }
    k_scales_mins(b, ds, ms);
}

// q5_k [176]: as q4_k, with qh[32] at 16 (fifth bit of value 32·s + m: (qh[m] >> s) & 1) and qs at 48.
KERNEL static inline __attribute__((always_inline)) void unpack_q5_k(const uint8_t *b, int8_t *q, float *ds, float *ms) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10), qh = bytes32(b + 16);
    for (int p = 0; p < 4; p++) {   // sub-blocks 2p (low nibbles) and 2p + 1 (high nibbles) share qs[32p ..< 32p + 32]
        const int s = 2 * p, t = s + 1;
        const __m256i qs = bytes32(b + 48 + 32 * p);
        // Bit s of each qh byte to bit 4 (16-bit shifts by at most 4 keep each byte's own bits there).
        const __m256i hs = s <= 4 ? _mm256_slli_epi16(qh, 4 - s) : _mm256_srli_epi16(qh, s - 4);
        const __m256i ht = t <= 4 ? _mm256_slli_epi16(qh, 4 - t) : _mm256_srli_epi16(qh, t - 4);
        _mm256_store_si256((__m256i *)(q + 32 * s), _mm256_or_si256(_mm256_and_si256(qs, m4), _mm256_and_si256(hs, bit4)));
        _mm256_store_si256((__m256i *)(q + 32 * t),
                           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), m4), _mm256_and_si256(ht, bit4)));
    }
    k_scales_mins(b, ds, ms);
}

// q6_k [210]: ql[128], qh[64], scales i8[16], d; value 128·h + r: nibble r / 64 of ql[64·h + r % 64],
// high bits 2·(r / 32) of qh[32·h + r % 32]; w = (d · sc) · (q - 32), unpacked as the bytes q - 32.
KERNEL static inline __attribute__((always_inline)) void unpack_q6_k(const uint8_t *b, int8_t *q, float *ds, float *unused_mins) {
    (void)unused_mins;
    const __m256i m4 = _mm256_set1_epi8(0x0F), high2 = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        // Values 128·h + 32·j + r (r < 32): low nibbles from ql[64·h + r] (j = 0, 2) and ql[64·h + 32 + r]
        // (j = 1, 3), bits 2j of qh[32·h + r] above them.
        const __m256i la = bytes32(b + 64 * h), lb = bytes32(b + 64 * h + 32), hb = bytes32(b + 128 + 32 * h);
        const __m256i low[4] = {_mm256_and_si256(la, m4), _mm256_and_si256(lb, m4),
                                _mm256_and_si256(_mm256_srli_epi16(la, 4), m4), _mm256_and_si256(_mm256_srli_epi16(lb, 4), m4)};
        const __m256i high[4] = {_mm256_slli_epi16(hb, 4), _mm256_slli_epi16(hb, 2), hb, _mm256_srli_epi16(hb, 2)};
        for (int j = 0; j < 4; j++) {
            const __m256i v = _mm256_or_si256(low[j], _mm256_and_si256(high[j], high2));
            _mm256_store_si256((__m256i *)(q + 128 * h + 32 * j), _mm256_sub_epi8(v, bias));
        }
    }
    const __m128i scales = _mm_loadu_si128((const __m128i *)(b + 192));
    const __m256 d = _mm256_set1_ps(f16_at(b + 208));
    _mm256_storeu_ps(ds, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scales))));
    _mm256_storeu_ps(ds + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(scales, 8)))));
}

// ---- One token: y[r] = W[r, :] · x, four accumulators per row ----

// A 32-value type's block against x[32]: values 8c ..< 8c + 8 into acc[c].
#define DOT_BLOCK32(name)                                                                                    \
    KERNEL static void dot_block_##name(const uint8_t *b, const float *x, __m256 *acc) {                     \
        __m256 w[4];                                                                                         \
        weights_##name(b, w);                                                                                \
        for (int c = 0; c < 4; c++) acc[c] = _mm256_fmadd_ps(w[c], _mm256_loadu_ps(x + 8 * c), acc[c]);     \
    }

DOT_BLOCK32(q4_0)
DOT_BLOCK32(q4_1)
DOT_BLOCK32(q5_0)
DOT_BLOCK32(q5_1)
DOT_BLOCK32(iq4_nl)

KERNEL static void dot_block_iq4_xs(const uint8_t *b, const float *x, __m256 *acc) {
    for (int s = 0; s < 8; s++) {
        __m256 w[4];
        weights_iq4_xs(b, s, w);
        for (int c = 0; c < 4; c++) acc[c] = _mm256_fmadd_ps(w[c], _mm256_loadu_ps(x + 32 * s + 8 * c), acc[c]);
    }
}

// A K type's block against x[256]: unpacked, then chunk c of eight values into acc[c % 4]; a scale (and with
// has_mins a min) per `group` values.
#define DOT_BLOCK_K(name, has_mins, group)                                                                   \
    KERNEL static void dot_block_##name(const uint8_t *b, const float *x, __m256 *acc) {                     \
        int8_t q[256] __attribute__((aligned(32)));                                                          \
        float ds[16], ms[16];                                                                                \
        unpack_##name(b, q, ds, ms);                                                                         \
        dot_k(q, ds, has_mins ? ms : NULL, group, x, acc);                                                   \
    }

DOT_BLOCK_K(q2_k, 1, 16)
DOT_BLOCK_K(q3_k, 0, 16)
DOT_BLOCK_K(q4_k, 1, 32)
DOT_BLOCK_K(q5_k, 1, 32)
DOT_BLOCK_K(q6_k, 0, 16)

// The types of the f32-activation kernels as (qkv dtype code, name, values per block, bytes per block)
// (Specs/quantization.md): each kernel family below is instantiated and dispatched over this list.
#define F32_BLOCK_TYPES(X)                                                                                   \
    X(33, q4_0, 32, 18) X(34, q4_1, 32, 20) X(35, q5_0, 32, 22) X(36, q5_1, 32, 24) X(37, q2_k, 256, 84)     \
    X(38, q3_k, 256, 110) X(39, q4_k, 256, 144) X(40, q5_k, 256, 176) X(41, q6_k, 256, 210)                  \
    X(42, iq4_nl, 32, 18) X(43, iq4_xs, 256, 136)

#define DOT_ROWS(code, name, block_values, block_bytes)                                                          \
    KERNEL static void dot_rows_##name(const uint8_t *w, size_t row_bytes, const float *x, float *y,         \
                                       size_t row_begin, size_t row_end, size_t k) {                         \
        const size_t blocks = k / block_values;                                                              \
        const char *fetched = (const char *)w + row_begin * row_bytes + PREFETCH_BYTES;                      \
        for (size_t r = row_begin; r < row_end; r++) {                                                       \
            const uint8_t *row = w + r * row_bytes;                                                          \
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
            for (size_t b = 0; b < blocks; b++) {                                                            \
                prefetch_until(&fetched, (const char *)row + PREFETCH_BYTES + (b + 1) * block_bytes);        \
                dot_block_##name(row + b * block_bytes, x + b * block_values, acc);                          \
            }                                                                                                \
            y[r] = block_sum8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));  \
        }                                                                                                    \
    }

F32_BLOCK_TYPES(DOT_ROWS)

int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k) {
    if (qkv_kernels_level() < 1) return 0;
    const uint8_t *base = (const uint8_t *)w;
    switch (dtype_code) {
#define CASE(code, name, block_values, block_bytes) \
    case code: dot_rows_##name(base, row_bytes, x, y, row_begin, row_end, k); return 1;
    F32_BLOCK_TYPES(CASE)
#undef CASE
    default: return 0;
    }
}

// ---- A few tokens: Y[t, r] = W[r, :] · X[t, :], each W row dequantized once for all of them ----
//
// A row is dequantized 256 values at a time (a K block, or eight 32-value blocks) into w[], with the
// weights above, then multiplied with each token's x into that token's four accumulators, chunk c of
// eight values into acc[c % 4]: the same products summed in the same order as the one-token kernel, so
// each token's result is bit-identical to qkv_dot_rows_blocks on its own x (a batched decode step gives
// every sequence the numbers it would get alone).

#define DEQUANT_BLOCK32(name)                                                                                \
    KERNEL static inline __attribute__((always_inline)) void dequant_block_##name(const uint8_t *b, float *w) { \
        __m256 v[4];                                                                                         \
        weights_##name(b, v);                                                                                \
        for (int c = 0; c < 4; c++) _mm256_storeu_ps(w + 8 * c, v[c]);                                        \
    }

DEQUANT_BLOCK32(q4_0)
DEQUANT_BLOCK32(q4_1)
DEQUANT_BLOCK32(q5_0)
DEQUANT_BLOCK32(q5_1)
DEQUANT_BLOCK32(iq4_nl)

KERNEL static inline __attribute__((always_inline)) void dequant_block_iq4_xs(const uint8_t *b, float *w) {
    for (int s = 0; s < 8; s++) {
        __m256 v[4];
        weights_iq4_xs(b, s, v);
        for (int c = 0; c < 4; c++) _mm256_storeu_ps(w + 32 * s + 8 * c, v[c]);
    }
}

#define DEQUANT_BLOCK_K(name, has_mins, group)                                                               \
    KERNEL static inline __attribute__((always_inline)) void dequant_block_##name(const uint8_t *b, float *w) { \
        int8_t q[256] __attribute__((aligned(32)));                                                          \
        float ds[16], ms[16];                                                                                \
        unpack_##name(b, q, ds, ms);                                                                         \
        dequant_k(q, ds, has_mins ? ms : NULL, group, w);                                                    \
    }

DEQUANT_BLOCK_K(q2_k, 1, 16)
DEQUANT_BLOCK_K(q3_k, 0, 16)
DEQUANT_BLOCK_K(q4_k, 1, 32)
DEQUANT_BLOCK_K(q5_k, 1, 32)
DEQUANT_BLOCK_K(q6_k, 0, 16)

#define WIDEN_BLOCKS(code, name, block_values, block_bytes)                                                        \
    KERNEL static void widen_blocks_##name(const uint8_t *b, float *out, size_t blocks) {                    \
        for (size_t i = 0; i < blocks; i++) dequant_block_##name(b + i * block_bytes, out + i * block_values); \
    }

F32_BLOCK_TYPES(WIDEN_BLOCKS)

int qkv_widen_blocks(int dtype_code, const void *blocks, float *out, size_t count) {
    if (qkv_kernels_level() < 1) return 0;
    const uint8_t *b = (const uint8_t *)blocks;
    switch (dtype_code) {
#define CASE(code, name, block_values, block_bytes) case code: widen_blocks_##name(b, out, count); return 1;
    F32_BLOCK_TYPES(CASE)
#undef CASE
    default: return 0;
    }
}

// Tokens per pass over a row: their accumulators (4 each) stay in registers beside w.
#define GEMM_TOKENS 3

// acc[t][c % 4] += w[8c ..< 8c + 8] · x_t[8c ..< 8c + 8] for chunks c of n values (n a multiple of 32) and
// `tokens` (1 ... GEMM_TOKENS) tokens x_t = x + t · ldx.
KERNEL static inline __attribute__((always_inline)) void dot_span(const float *w, const float *x, size_t ldx, int tokens, size_t n,
                                                                  __m256 (*acc)[4]) {
    __m256 a[GEMM_TOKENS][4];
    for (int t = 0; t < tokens; t++)
        for (int j = 0; j < 4; j++) a[t][j] = acc[t][j];
    for (size_t c = 0; c < n / 8; c += 4) {
        for (int j = 0; j < 4; j++) {
            const __m256 wc = _mm256_loadu_ps(w + 8 * (c + j));
            for (int t = 0; t < tokens; t++) a[t][j] = _mm256_fmadd_ps(wc, _mm256_loadu_ps(x + t * ldx + 8 * (c + j)), a[t][j]);
        }
    }
    for (int t = 0; t < tokens; t++)
        for (int j = 0; j < 4; j++) acc[t][j] = a[t][j];
}

// Rows per group: a group's accumulators (8 KiB for eight tokens) and the tokens' x over one span (8 KiB)
// stay in L1 while the group's rows go by, span by span; a token's whole x (12 KiB at k = 3072) times
// eight tokens would not, and reloading it from L2 for every row bounded the kernel.
#define GEMM_ROW_GROUP 8

#define GEMM_ROWS(code, name, block_values, block_bytes)                                                           \
    KERNEL static void gemm_rows_##name(const float *x, size_t ldx, size_t m, const uint8_t *w, size_t row_bytes, \
                                        size_t k, float *y, size_t ldy, size_t row_begin, size_t row_end) {   \
        float wf[256] __attribute__((aligned(32)));                                                          \
        __m256 acc[GEMM_ROW_GROUP][8][4];                                                                    \
        for (size_t t0 = 0; t0 < m; t0 += 8) {                                                               \
            const size_t tokens = m - t0 < 8 ? m - t0 : 8;                                                   \
            const float *xt = x + t0 * ldx;                                                                  \
            const char *fetched = (const char *)w + row_begin * row_bytes + PREFETCH_BYTES;                  \
            for (size_t r0 = row_begin; r0 < row_end; r0 += GEMM_ROW_GROUP) {                                \
                const size_t rows = row_end - r0 < GEMM_ROW_GROUP ? row_end - r0 : GEMM_ROW_GROUP;           \
                const char *group = (const char *)w + r0 * row_bytes;                                        \
                for (size_t i = 0; i < rows; i++)                                                            \
                    for (size_t t = 0; t < tokens; t++)                                                      \
                        for (int j = 0; j < 4; j++) acc[i][t][j] = _mm256_setzero_ps();                      \
                for (size_t v = 0; v < k; v += 256) {                                                        \
                    const size_t n = k - v < 256 ? k - v : 256;                                              \
                    prefetch_until(&fetched, group + (v + n) * rows * row_bytes / k + PREFETCH_BYTES);       \
                    for (size_t i = 0; i < rows; i++) {                                                      \
                        const uint8_t *row = w + (r0 + i) * row_bytes;                                       \
                        for (size_t u = 0; u < n; u += block_values)                                         \
                            dequant_block_##name(row + (v + u) / block_values * block_bytes, wf + u);        \
                        size_t t = 0;                                                                        \
                        for (; t + GEMM_TOKENS <= tokens; t += GEMM_TOKENS)                                  \
                            dot_span(wf, xt + t * ldx + v, ldx, GEMM_TOKENS, n, acc[i] + t);                 \
                        for (; t + 2 <= tokens; t += 2) dot_span(wf, xt + t * ldx + v, ldx, 2, n, acc[i] + t); \
                        for (; t < tokens; t++) dot_span(wf, xt + t * ldx + v, ldx, 1, n, acc[i] + t);       \
                    }                                                                                        \
                }                                                                                            \
                for (size_t i = 0; i < rows; i++)                                                            \
                    for (size_t t = 0; t < tokens; t++)                                                      \
                        y[(t0 + t) * ldy + r0 + i] = block_sum8(_mm256_add_ps(_mm256_add_ps(acc[i][t][0], acc[i][t][1]), \
                                                                              _mm256_add_ps(acc[i][t][2], acc[i][t][3]))); \
            }                                                                                                \
        }                                                                                                    \
    }

F32_BLOCK_TYPES(GEMM_ROWS)

int qkv_gemm_rows_blocks(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end) {
    if (qkv_kernels_level() < 1) return 0;
    const uint8_t *base = (const uint8_t *)w;
    if (m < GEMM_TOKENS) {   // dequantizing to memory pays from three tokens on; fewer take the one-token kernel each
        for (size_t t = 0; t < m; t++)
            if (!qkv_dot_rows_blocks(dtype_code, w, row_bytes, x + t * ldx, y + t * ldy, row_begin, row_end, k)) return 0;
        return 1;
    }
    switch (dtype_code) {
#define CASE(code, name, block_values, block_bytes) \
    case code: gemm_rows_##name(x, ldx, m, base, row_bytes, k, y, ldy, row_begin, row_end); return 1;
    F32_BLOCK_TYPES(CASE)
#undef CASE
    default: return 0;
    }
}

// ---- 8-bit activations (QKV_ACTIVATIONS=q8): x quantized once per product, integer dot products ----
//
// x [k] is quantized in blocks of n values (n = 32 for the 32-value types, 256 for the K types and
// iq4_xs): d = max|x| / 127 in f32, q = x / d rounded to nearest (ties to even) in -127..127, q = 0 where
// d is 0; and the sums of each g q (g = 32 for the 32-value types, 16 for the others). A block's product
// is then d_x · d_w · (an exact integer sum of weight quants times q), a weight's offsets or mins entering
// through the q sums; maddubs never saturates (each pair of products is at most 2·128·127 < 2^15).

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

KERNEL static inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// u8 [32] · i8 [32] -> i16 [16], sums of adjacent pairs (a at most 128: no saturation).
KERNEL static inline __m256i pairs(__m256i a, __m256i b) { return _mm256_maddubs_epi16(a, b); }

// i16 [16] · i16 [16] -> i32 [8], sums of adjacent pairs.
KERNEL static inline __m256i widen_pairs(__m256i p, __m256i scale) { return _mm256_madd_epi16(p, scale); }

// i8 [32] · i8 [32] -> i32 [8], sums of each 4 (|a| moved onto b's sign, as maddubs wants u8 · i8).
KERNEL static inline __m256i dot_i8x32(__m256i a, const int8_t *q) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)q);
    return widen_pairs(pairs(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)), _mm256_set1_epi16(1));
}

// u8 [32] · i8 [32] -> i32 [8], sums of each 4.
KERNEL static inline __m256i dot_u8x32(__m256i a, const int8_t *q) {
    return widen_pairs(pairs(a, _mm256_loadu_si256((const __m256i *)q)), _mm256_set1_epi16(1));
}

// The 32 nibbles of 16 bytes as bytes: values 0..15 the low nibbles, 16..31 the high ones.
KERNEL static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit j of the u32 at p as byte j of 32: 0x10 where set, 0 where not.
KERNEL static inline __m256i bits32_as_16(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// Each 32-value kernel adds d_x · d_w · Σ w_q · q into the eight lanes of acc and the offset term
// (d_x · m · Σ q, the types with m) into *rest; y = Σ acc + rest.

// q8_0 [34]: d, qs i8[32].
KERNEL static inline __m256 dot_q8_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    (void)sum; (void)rest;
    const __m256i s = dot_i8x32(_mm256_loadu_si256((const __m256i *)(b + 2)), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// q4_0 [18]: w = d · (nibble - 8); the 8 is taken out with Σ q.
KERNEL static inline __m256 dot_q4_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    const float dd = dx * f16_at(b);
    *rest -= dd * (float)(8 * sum);
    return _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(dot_u8x32(nibbles32(b + 2), q)), acc);
}

// q4_1 [20]: w = d · nibble + m.
KERNEL static inline __m256 dot_q4_1_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    *rest += dx * f16_at(b + 2) * (float)sum;
    const __m256i s = dot_u8x32(nibbles32(b + 4), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// q5_0 [22]: w = d · ((nibble | bit(qh, j) << 4) - 16); the 16 is taken out with Σ q.
KERNEL static inline __m256 dot_q5_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    const float dd = dx * f16_at(b);
    *rest -= dd * (float)(16 * sum);
    const __m256i v = _mm256_or_si256(nibbles32(b + 6), bits32_as_16(b + 2));
    return _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(dot_u8x32(v, q)), acc);
}

// q5_1 [24]: w = d · (nibble | bit(qh, j) << 4) + m.
KERNEL static inline __m256 dot_q5_1_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    *rest += dx * f16_at(b + 2) * (float)sum;
    const __m256i v = _mm256_or_si256(nibbles32(b + 8), bits32_as_16(b + 4));
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(dot_u8x32(v, q)), acc);
}

// The 32 levels of 16 iq4 nibble bytes, as i8 in nibbles32's order.
KERNEL static inline __m256i iq4_levels32(const uint8_t *p) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_levels));
    return _mm256_shuffle_epi8(table, nibbles32(p));
}

// iq4_nl [18]: w = d · K[nibble].
KERNEL static inline __m256 dot_iq4_nl_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    (void)sum; (void)rest;
    const __m256i s = dot_i8x32(iq4_levels32(b + 2), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// Each super-block kernel returns d_x · (d · Σ scale · Σ w_q · q - dmin · Σ min · Σ q) for its 256 values,
// the q sums bs [16] per 16 values; a negative bias on w_q (q3_k's 4, q6_k's 32) enters as a min.

// Byte shuffles that spread scales g and g + 1 (g = 2i) of sixteen over eight bytes each.
static const uint8_t scale_pair_pick[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9}, {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13}, {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

// Two 16-value groups' i16 pair sums p [16] (group g, then g + 1; g even) times their scales, from the
// sixteen i8 scales of a super-block.
KERNEL static inline __m256i scale_pair(__m256i p, __m128i scales, int g) {
    const __m128i pick = _mm_loadu_si128((const __m128i *)scale_pair_pick[g / 2]);
    return widen_pairs(p, _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick)));
}

// Σ_g scales[g] · bs[g] over the sixteen groups of a super-block (i8 scales, i16 sums).
KERNEL static inline int scaled_sums(__m128i scales, const int16_t *bs) {
    return hsum_i32x8(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), _mm256_loadu_si256((const __m256i *)bs)));
}

// Σ_g scale_g · Σ u·q over a super-block of 2-bit quants qs [64] (value 128·h + 32·l + m: bits 2l of
// qs[32·h + m]), with q3_k's third bit (hmask[m] >> (4h + l)) & 1 as u's bit 2 where hmask is not null.
KERNEL static inline int dot_2bit_groups(const uint8_t *qs, const uint8_t *hmask, __m128i scales, const int8_t *q) {
    const __m256i mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i high = hmask ? _mm256_loadu_si256((const __m256i *)hmask) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int l = 0; l < 4; l++) {
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * l), mask);
            if (hmask) u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 4 * h + l), one), 2));
            const __m256i p = pairs(u, _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * l)));
            acc = _mm256_add_epi32(acc, scale_pair(p, scales, 8 * h + 2 * l));
        }
    }
    return hsum_i32x8(acc);
}

// q2_k [84]: scales [16] (scale low nibble, min high nibble, per 16 values), qs [64], d, dmin;
// w = d · scale · u - dmin · min.
KERNEL static float dot_q2_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    const __m128i packed = _mm_loadu_si128((const __m128i *)b), low4 = _mm_set1_epi8(0x0F);
    const int mins = scaled_sums(_mm_and_si128(_mm_srli_epi16(packed, 4), low4), bs);
    return dx * (d * (float)dot_2bit_groups(b + 16, NULL, _mm_and_si128(packed, low4), q) - dmin * (float)mins);
}

// q3_k [110]: hmask [32], qs [64], 12 bytes of 16 six-bit scales, d; w = d · (scale - 32) · (u - 4), u =
// low | high << 2 in 0..7.
KERNEL static float dot_q3_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    const float d = f16_at(b + 108);
    // Scale s: low nibble s % 8 of byte s % 8 (bytes 96..103), high nibble for s ≥ 8; its two high bits
    // (byte 104 + s % 4 >> 2 · (s / 4)) & 3.
    const __m128i packed = _mm_loadl_epi64((const __m128i *)(b + 96));
    const __m128i low = _mm_and_si128(_mm_unpacklo_epi64(packed, _mm_srli_epi16(packed, 4)), _mm_set1_epi8(0x0F));
    uint32_t hb;
    memcpy(&hb, b + 104, 4);
    const __m128i high = _mm_and_si128(_mm_setr_epi32((int)hb, (int)(hb >> 2), (int)(hb >> 4), (int)(hb >> 6)), _mm_set1_epi8(3));
    const __m128i scales = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
    return dx * d * (float)(dot_2bit_groups(b + 32, b, scales, q) - 4 * scaled_sums(scales, bs));
}

// q4_k [144] (qh null) and q5_k [176]: d, dmin, 12 bytes of scales and mins, then q5_k's qh [32] (fifth bit
// of value 32·s + m: (qh[m] >> s) & 1), then qs [128]; w = d · sc · u - dmin · mn, u the nibble (| fifth
// bit << 4).
KERNEL static inline float dot_q45_k_q8(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, const int8_t *q, float dx,
                                        const int16_t *bs) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i high = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    int mins = 0;
    for (int j = 0; j < 4; j++) {
        int scale[2], min[2];
        for (int h = 0; h < 2; h++) {
            k_scale_min(b + 4, 2 * j + h, &scale[h], &min[h]);
            mins += min[h] * (bs[4 * j + 2 * h] + bs[4 * j + 2 * h + 1]);
        }
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i lo = _mm256_and_si256(bytes, mask), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j + 1), one), 4));
        }
        const __m256i plo = pairs(lo, _mm256_loadu_si256((const __m256i *)(q + 64 * j)));
        const __m256i phi = pairs(hi, _mm256_loadu_si256((const __m256i *)(q + 64 * j + 32)));
        acc = _mm256_add_epi32(acc, widen_pairs(plo, _mm256_set1_epi16((short)scale[0])));
        acc = _mm256_add_epi32(acc, widen_pairs(phi, _mm256_set1_epi16((short)scale[1])));
    }
    return dx * (d * (float)hsum_i32x8(acc) - dmin * (float)mins);
}

KERNEL static float dot_q4_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    return dot_q45_k_q8(b, NULL, b + 16, q, dx, bs);
}

KERNEL static float dot_q5_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    return dot_q45_k_q8(b, b + 16, b + 48, q, dx, bs);
}

// q6_k [210]: ql [128], qh [64], scales i8 [16], d; w = d · sc · (u - 32), u = low | high << 4 in 0..63;
// value 128·h + 32·j + m: nibble j / 2 of ql[64·h + 32·(j % 2) + m], bits 2j of qh[32·h + m].
KERNEL static float dot_q6_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    const float d = f16_at(b + 208);
    const __m128i scales = _mm_loadu_si128((const __m128i *)(b + 192));
    const int mins = 32 * scaled_sums(scales, bs);
    const __m256i mask4 = _mm256_set1_epi8(0x0F), mask2 = _mm256_set1_epi8(3);
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
        for (int j = 0; j < 4; j++) {
            const __m256i ql = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32 * (j % 2)));
            const __m256i low = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (j / 2)), mask4);
            const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), mask2);
            const __m256i u = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
            const __m256i p = pairs(u, _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * j)));
            const int g = 8 * h + 2 * j;
            acc = _mm256_add_epi32(acc, scale_pair(p, scales, g));
        }
    }
    return dx * d * (float)(hsum_i32x8(acc) - mins);
}

// iq4_xs [136]: d, scales_h u16, scales_l [4], qs [128]; sub-block s: w = d · (ls - 32) · K[nibble].
KERNEL static float dot_iq4_xs_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    (void)bs;
    const float d = f16_at(b);
    uint16_t scales_h;
    memcpy(&scales_h, b + 2, 2);
    __m256i acc = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
        const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0x0F) | ((scales_h >> (2 * s)) & 3) << 4;
        const __m256i v = iq4_levels32(b + 8 + 16 * s), x = _mm256_loadu_si256((const __m256i *)(q + 32 * s));
        const __m256i p = pairs(_mm256_sign_epi8(v, v), _mm256_sign_epi8(x, v));
        acc = _mm256_add_epi32(acc, widen_pairs(p, _mm256_set1_epi16((short)(ls - 32))));
    }
    return dx * d * (float)hsum_i32x8(acc);
}

// y[r] for rows [row_begin, row_end) from x quantized per 32 (dx [k / 32], sums [k / 32]).
#define DOT_ROWS_Q8_32(name, block_bytes)                                                                    \
    KERNEL static void dot_rows_##name##_q8(const uint8_t *w, size_t row_bytes, const int8_t *q,              \
                                            const float *dx, const int16_t *sums, float *y,                   \
                                            size_t row_begin, size_t row_end, size_t k) {                     \
        const char *fetched = (const char *)w + row_begin * row_bytes + PREFETCH_BYTES;                      \
        for (size_t r = row_begin; r < row_end; r++) {                                                       \
            const uint8_t *row = w + r * row_bytes;                                                          \
            __m256 acc = _mm256_setzero_ps();                                                                \
            float rest = 0;                                                                                  \
            for (size_t b = 0; b < k / 32; b++) {                                                            \
                prefetch_until(&fetched, (const char *)row + PREFETCH_BYTES + (b + 1) * block_bytes);        \
                acc = dot_##name##_q8(row + b * block_bytes, q + 32 * b, dx[b], sums[b], acc, &rest);         \
            }                                                                                                \
            y[r] = block_sum8(acc) + rest;                                                                   \
        }                                                                                                    \
    }

// y[r] for rows [row_begin, row_end) from x quantized per 256 (dx [k / 256], sums [k / 16]).
#define DOT_ROWS_Q8_256(name, block_bytes)                                                                   \
    KERNEL static void dot_rows_##name##_q8(const uint8_t *w, size_t row_bytes, const int8_t *q,              \
                                            const float *dx, const int16_t *sums, float *y,                   \
                                            size_t row_begin, size_t row_end, size_t k) {                     \
        const char *fetched = (const char *)w + row_begin * row_bytes + PREFETCH_BYTES;                      \
        for (size_t r = row_begin; r < row_end; r++) {                                                       \
            const uint8_t *row = w + r * row_bytes;                                                          \
            float sum = 0;                                                                                   \
            for (size_t b = 0; b < k / 256; b++) {                                                           \
                prefetch_until(&fetched, (const char *)row + PREFETCH_BYTES + (b + 1) * block_bytes);        \
                sum += dot_##name##_q8(row + b * block_bytes, q + 256 * b, dx[b], sums + 16 * b);            \
            }                                                                                                \
            y[r] = sum;                                                                                      \
        }                                                                                                    \
    }

DOT_ROWS_Q8_32(q8_0, 34)
DOT_ROWS_Q8_32(q4_0, 18)
DOT_ROWS_Q8_32(q4_1, 20)
DOT_ROWS_Q8_32(q5_0, 22)
DOT_ROWS_Q8_32(q5_1, 24)
DOT_ROWS_Q8_32(iq4_nl, 18)
DOT_ROWS_Q8_256(q2_k, 84)
DOT_ROWS_Q8_256(q3_k, 110)
DOT_ROWS_Q8_256(q4_k, 144)
DOT_ROWS_Q8_256(q5_k, 176)
DOT_ROWS_Q8_256(q6_k, 210)
DOT_ROWS_Q8_256(iq4_xs, 136)

typedef void (*dot_rows_q8_fn)(const uint8_t *, size_t, const int8_t *, const float *, const int16_t *, float *,
                               size_t, size_t, size_t);

// The 8-bit-activation row kernel of a dtype and its activation blocks: n values per scale, g per q sum.
// False for dtypes without one.
static int q8_rows_kernel(int dtype_code, dot_rows_q8_fn *rows, size_t *n, size_t *g) {
    *n = 256; *g = 16;
    switch (dtype_code) {
    case 32: *rows = dot_rows_q8_0_q8; *n = *g = 32; return 1;
    case 33: *rows = dot_rows_q4_0_q8; *n = *g = 32; return 1;
    case 34: *rows = dot_rows_q4_1_q8; *n = *g = 32; return 1;
    case 35: *rows = dot_rows_q5_0_q8; *n = *g = 32; return 1;
    case 36: *rows = dot_rows_q5_1_q8; *n = *g = 32; return 1;
    case 42: *rows = dot_rows_iq4_nl_q8; *n = *g = 32; return 1;
    case 37: *rows = dot_rows_q2_k_q8; return 1;
    case 38: *rows = dot_rows_q3_k_q8; return 1;
    case 39: *rows = dot_rows_q4_k_q8; return 1;
    case 40: *rows = dot_rows_q5_k_q8; return 1;
    case 41: *rows = dot_rows_q6_k_q8; return 1;
    case 43: *rows = dot_rows_iq4_xs_q8; return 1;
    default: return 0;
    }
}

int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) {
    dot_rows_q8_fn rows;
    size_t n, g;
    if (!q8_rows_kernel(dtype_code, &rows, &n, &g) || qkv_kernels_level() < 1 || k % n != 0 || k > 65536) return 0;
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
    dot_rows_q8_fn rows;
    size_t n, g;
    if (!q8_rows_kernel(dtype_code, &rows, &n, &g) || qkv_kernels_level() < 1 || k % n != 0 || k > 65536 || m == 0 ||
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

#else
int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k) { return 0; }
int qkv_gemm_rows_blocks(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end) { return 0; }
int qkv_widen_blocks(int dtype_code, const void *blocks, float *out, size_t count) { return 0; }
int qkv_dot_rows_blocks_q8(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                           size_t row_begin, size_t row_end, size_t k) { return 0; }
int qkv_gemm_rows_blocks_q8(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                            float *y, size_t ldy, size_t row_begin, size_t row_end, void *scratch, size_t scratch_bytes) { return 0; }
#endif

size_t qkv_gemm_rows_blocks_q8_scratch(size_t m, size_t k) { return m * (k / 32 * sizeof(float) + k / 16 * sizeof(int16_t) + k); }
