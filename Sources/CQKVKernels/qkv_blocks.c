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
#include "qkv_blocks_common.h"

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

// d · scale and dmin · min of q4_k's and q5_k's block b per sub-block of 32 values, ds[8] and ms[8].
KERNEL static inline __attribute__((always_inline)) void k_scales_mins(const uint8_t *b, float *ds, float *ms) {
    const __m128i scales_mins = k_scales_mins_bytes(b + 4);
    _mm256_storeu_ps(ds, _mm256_mul_ps(_mm256_set1_ps(f16_at(b)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scales_mins))));
    _mm256_storeu_ps(ms, _mm256_mul_ps(_mm256_set1_ps(f16_at(b + 2)),
                                       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(scales_mins, scales_mins)))));
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

#else
int qkv_dot_rows_blocks(int dtype_code, const void *w, size_t row_bytes, const float *x, float *y,
                        size_t row_begin, size_t row_end, size_t k) { return 0; }
int qkv_gemm_rows_blocks(int dtype_code, const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,
                         float *y, size_t ldy, size_t row_begin, size_t row_end) { return 0; }
int qkv_widen_blocks(int dtype_code, const void *blocks, float *out, size_t count) { return 0; }
#endif
