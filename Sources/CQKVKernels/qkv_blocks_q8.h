// The 8-bit-activation row kernels of the block types (QKV_ACTIVATIONS=q8; qkv_blocks_q8.c has the
// scheme), written once and built twice: by qkv_blocks_q8.c for AVX2 and by qkv_blocks_q8_vnni.c for
// AVX-512 VNNI. The builds differ only in the integer products dot_u8_i8 and add_scaled_pairs; both are
// exact integer arithmetic, so the two compute the same sums and each y is bit-identical between them.
// The includer defines QKV_Q8_VNNI as 0 or 1 (x86 only).
#ifndef QKV_Q8_VNNI
#error "define QKV_Q8_VNNI before including qkv_blocks_q8.h"
#endif
#include "qkv_blocks_common.h"
#include "qkv_prefetch.h"

// y[r] for rows [row_begin, row_end) of W (rows row_bytes apart) from x quantized: quants q [k], scales
// dx [k / n], q sums [k / g] (n and g the dtype's, qkv_blocks_q8.c).
typedef void (*dot_rows_q8_fn)(const uint8_t *w, size_t row_bytes, const int8_t *q, const float *dx, const int16_t *sums,
                               float *y, size_t row_begin, size_t row_end, size_t k);

// A dtype's row kernel in each build (the dtype codes of qkv_dot_rows_blocks_q8), or NULL.
dot_rows_q8_fn qkv_q8_rows_avx2(int dtype_code);
dot_rows_q8_fn qkv_q8_rows_vnni(int dtype_code);

// Y [t, r] for m tokens already quantized (qkv_blocks_q8.c's layout: token t's quants at q + t · k, scales
// at dx + t · (k / n), q sums at sums + t · (k / g + 2)) through rows [row_begin, row_end), `panel` scratch of
// qkv_q8_panel_bytes(dtype_code, k) bytes (float-aligned). VNNI build only.
typedef void (*qkv_q8_panel_gemm_fn)(const int8_t *q, const float *dx, const int16_t *sums, size_t m, const uint8_t *w,
                                     size_t row_bytes, size_t k, float *y, size_t ldy, size_t row_begin, size_t row_end,
                                     uint8_t *panel);
qkv_q8_panel_gemm_fn qkv_q8_panel_gemm_vnni(int dtype_code);
size_t qkv_q8_panel_bytes(int dtype_code, size_t k);

#if QKV_Q8_VNNI
#define Q8_KERNEL __attribute__((target("avx512vnni,avx512vl,avx512bw,avx512f,avx2,fma,f16c")))
#define Q8_ROWS qkv_q8_rows_vnni
#else
#define Q8_KERNEL KERNEL
#define Q8_ROWS qkv_q8_rows_avx2
#endif

// u8 [32] · i8 [32] -> i16 [16], sums of adjacent pairs (a at most 128: no saturation).
Q8_KERNEL static inline __m256i pairs(__m256i a, __m256i b) { return _mm256_maddubs_epi16(a, b); }

#if QKV_Q8_VNNI
// u8 [32] · i8 [32] -> i32 [8], sums of each 4 (vpdpbusd: one instruction for maddubs, madd and add).
Q8_KERNEL static inline __m256i dot_u8_i8(__m256i a, __m256i b) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b); }

// acc + i16 [16] · i16 [16] summed in adjacent pairs -> i32 [8] (vpdpwssd).
Q8_KERNEL static inline __m256i add_scaled_pairs(__m256i acc, __m256i p, __m256i scale) { return _mm256_dpwssd_epi32(acc, p, scale); }
#else
// u8 [32] · i8 [32] -> i32 [8], sums of each 4.
Q8_KERNEL static inline __m256i dot_u8_i8(__m256i a, __m256i b) { return _mm256_madd_epi16(pairs(a, b), _mm256_set1_epi16(1)); }

// acc + i16 [16] · i16 [16] summed in adjacent pairs -> i32 [8].
Q8_KERNEL static inline __m256i add_scaled_pairs(__m256i acc, __m256i p, __m256i scale) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale));
}
#endif

// u8 [32] · the 32 i8 at q -> i32 [8], sums of each 4.
Q8_KERNEL static inline __m256i dot_u8x32(__m256i a, const int8_t *q) { return dot_u8_i8(a, _mm256_loadu_si256((const __m256i *)q)); }

// i8 [32] · the 32 i8 at q -> i32 [8], sums of each 4 (|a| moved onto b's sign, as u8 · i8 wants).
Q8_KERNEL static inline __m256i dot_i8x32(__m256i a, const int8_t *q) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)q);
    return dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

// The 32 nibbles of 16 bytes as bytes: values 0..15 the low nibbles, 16..31 the high ones.
Q8_KERNEL static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit j of the u32 at p as byte j of 32: 0x10 where set, 0 where not.
Q8_KERNEL static inline __m256i bits32_as_16(const uint8_t *p) {
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
Q8_KERNEL static inline __m256 dot_q8_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    (void)sum; (void)rest;
    const __m256i s = dot_i8x32(_mm256_loadu_si256((const __m256i *)(b + 2)), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// q4_0 [18]: w = d · (nibble - 8); the 8 is taken out with Σ q.
Q8_KERNEL static inline __m256 dot_q4_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    const float dd = dx * f16_at(b);
    *rest -= dd * (float)(8 * sum);
    return _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(dot_u8x32(nibbles32(b + 2), q)), acc);
}

// q4_1 [20]: w = d · nibble + m.
Q8_KERNEL static inline __m256 dot_q4_1_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    *rest += dx * f16_at(b + 2) * (float)sum;
    const __m256i s = dot_u8x32(nibbles32(b + 4), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// q5_0 [22]: w = d · ((nibble | bit(qh, j) << 4) - 16); the 16 is taken out with Σ q.
Q8_KERNEL static inline __m256 dot_q5_0_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    const float dd = dx * f16_at(b);
    *rest -= dd * (float)(16 * sum);
    const __m256i v = _mm256_or_si256(nibbles32(b + 6), bits32_as_16(b + 2));
    return _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(dot_u8x32(v, q)), acc);
}

// q5_1 [24]: w = d · (nibble | bit(qh, j) << 4) + m.
Q8_KERNEL static inline __m256 dot_q5_1_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    *rest += dx * f16_at(b + 2) * (float)sum;
    const __m256i v = _mm256_or_si256(nibbles32(b + 8), bits32_as_16(b + 4));
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(dot_u8x32(v, q)), acc);
}

// The 32 levels of 16 iq4 nibble bytes, as i8 in nibbles32's order.
Q8_KERNEL static inline __m256i iq4_levels32(const uint8_t *p) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_levels));
    return _mm256_shuffle_epi8(table, nibbles32(p));
}

// iq4_nl [18]: w = d · K[nibble].
Q8_KERNEL static inline __m256 dot_iq4_nl_q8(const uint8_t *b, const int8_t *q, float dx, int sum, __m256 acc, float *rest) {
    (void)sum; (void)rest;
    const __m256i s = dot_i8x32(iq4_levels32(b + 2), q);
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * f16_at(b)), _mm256_cvtepi32_ps(s), acc);
}

// Each super-block kernel returns d_x · (d · Σ scale · Σ w_q · q - dmin · Σ min · Σ q) for its 256 values,
// the q sums bs [16] per 16 values; a negative bias on w_q (q3_k's 4, q6_k's 32) enters as a min. The two
// integer sums are whole before the floats multiply them, as in llama.cpp: 8-bit activations are rounded
// from the previous layer's output, so a change in float rounding here flips some of their roundings and
// moves the model's log-probabilities (measured on Gemma 3: summing per lane in floats moved the mean by
// 0.06 nats away from llama.cpp's).

// Byte shuffles that spread scales g and g + 1 (g = 2i) of sixteen over eight bytes each.
static const uint8_t scale_pair_pick[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9}, {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13}, {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

// acc + two 16-value groups' i16 pair sums p [16] (group g, then g + 1; g even) times their scales, from
// the sixteen i8 scales of a super-block.
Q8_KERNEL static inline __m256i add_scale_pair(__m256i acc, __m256i p, __m128i scales, int g) {
    const __m128i pick = _mm_loadu_si128((const __m128i *)scale_pair_pick[g / 2]);
    return add_scaled_pairs(acc, p, _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick)));
}

// The sum of the eight i32 lanes of v.
Q8_KERNEL static inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Σ_g scales[g] · bs[g] over the sixteen groups of a super-block (i8 scales, i16 sums).
Q8_KERNEL static inline int scaled_sums(__m128i scales, const int16_t *bs) {
    return hsum_i32x8(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), _mm256_loadu_si256((const __m256i *)bs)));
}

// Σ_g scale_g · Σ u·q over a super-block of 2-bit quants qs [64] (value 128·h + 32·l + m: bits 2l of
// qs[32·h + m]), with q3_k's third bit (hmask[m] >> (4h + l)) & 1 as u's bit 2 where hmask is not null.
Q8_KERNEL static inline int dot_2bit_groups(const uint8_t *qs, const uint8_t *hmask, __m128i scales, const int8_t *q) {
    const __m256i mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i high = hmask ? _mm256_loadu_si256((const __m256i *)hmask) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int l = 0; l < 4; l++) {
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * l), mask);
            if (hmask) u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 4 * h + l), one), 2));
            const __m256i p = pairs(u, _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * l)));
            acc = add_scale_pair(acc, p, scales, 8 * h + 2 * l);
        }
    }
    return hsum_i32x8(acc);
}

// q2_k [84]: scales [16] (scale low nibble, min high nibble, per 16 values), qs [64], d, dmin;
// w = d · scale · u - dmin · min.
Q8_KERNEL static float dot_q2_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    const __m128i packed = _mm_loadu_si128((const __m128i *)b), low4 = _mm_set1_epi8(0x0F);
    const int mins = scaled_sums(_mm_and_si128(_mm_srli_epi16(packed, 4), low4), bs);
    return dx * (d * (float)dot_2bit_groups(b + 16, NULL, _mm_and_si128(packed, low4), q) - dmin * (float)mins);
}

// q3_k [110]: hmask [32], qs [64], 12 bytes of 16 six-bit scales, d; w = d · (scale - 32) · (u - 4), u =
// low | high << 2 in 0..7.
Q8_KERNEL static float dot_q3_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
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

// Shuffles that spread i16 lane s of eight over all sixteen lanes of a 256-bit register.
static const uint8_t i16_lane_pick[8][32] = {
#define PICK(s) {2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, \
                 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, \
                 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1, 2 * s, 2 * s + 1}
    PICK(0), PICK(1), PICK(2), PICK(3), PICK(4), PICK(5), PICK(6), PICK(7)
#undef PICK
};

// Values 64j..64j+31 (*lo) and 64j+32..64j+63 (*hi) of a q4_k or q5_k super-block as bytes: the nibbles of
// qs[32j..32j+31], with q5_k's fifth bits from `high` (its qh; zero for q4_k) where qh is set.
Q8_KERNEL static inline void k_quant_bytes(const uint8_t *qs, int qh, __m256i high, int j, __m256i *lo, __m256i *hi) {
    const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
    *lo = _mm256_and_si256(bytes, mask);
    *hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
    if (qh) {
        *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j), one), 4));
        *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j + 1), one), 4));
    }
}

// q4_k [144] (qh null) and q5_k [176]: d, dmin, 12 bytes of scales and mins, then q5_k's qh [32] (fifth bit
// of value 32·s + m: (qh[m] >> s) & 1), then qs [128]; w = d · sc · u - dmin · mn, u the nibble (| fifth
// bit << 4).
Q8_KERNEL static inline float dot_q45_k_q8(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, const int8_t *q, float dx,
                                           const int16_t *bs) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const __m128i scales_mins = k_scales_mins_bytes(b + 4);
    // The scales as i16 in both halves (for the shuffles), and each min twice, beside bs's two 16-value sums.
    const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales_mins));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scales_mins, scales_mins));
    const __m256i min_sums = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)bs));
    const __m256i high = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i sums = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        __m256i lo, hi;
        k_quant_bytes(qs, qh != NULL, high, j, &lo, &hi);
        const __m256i plo = pairs(lo, _mm256_loadu_si256((const __m256i *)(q + 64 * j)));
        const __m256i phi = pairs(hi, _mm256_loadu_si256((const __m256i *)(q + 64 * j + 32)));
        sums = add_scaled_pairs(sums, plo, _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)i16_lane_pick[2 * j])));
        sums = add_scaled_pairs(sums, phi, _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)i16_lane_pick[2 * j + 1])));
    }
    return dx * (d * (float)hsum_i32x8(sums) - dmin * (float)hsum_i32x8(min_sums));
}

Q8_KERNEL static float dot_q4_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    return dot_q45_k_q8(b, NULL, b + 16, q, dx, bs);
}

Q8_KERNEL static float dot_q5_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    return dot_q45_k_q8(b, b + 16, b + 48, q, dx, bs);
}

// Values 128h + 32j .. +31 of a q6_k super-block b as bytes u in 0..63: nibble j / 2 of ql[64h + 32(j % 2) + m]
// with bits 2j of qh[32h + m] above it.
Q8_KERNEL static inline __m256i q6_k_bytes(const uint8_t *b, int h, int j) {
    const __m256i ql = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32 * (j % 2)));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (j / 2)), _mm256_set1_epi8(0x0F));
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), _mm256_set1_epi8(3));
    return _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
}

// q6_k [210]: ql [128], qh [64], scales i8 [16], d; w = d · sc · (u - 32), u = low | high << 4 in 0..63;
// value 128·h + 32·j + m: nibble j / 2 of ql[64·h + 32·(j % 2) + m], bits 2j of qh[32·h + m].
Q8_KERNEL static float dot_q6_k_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    const float d = f16_at(b + 208);
    const __m128i scales = _mm_loadu_si128((const __m128i *)(b + 192));
    const int mins = 32 * scaled_sums(scales, bs);
    __m256i sums = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 4; j++) {
            const __m256i p = pairs(q6_k_bytes(b, h, j), _mm256_loadu_si256((const __m256i *)(q + 128 * h + 32 * j)));
            sums = add_scale_pair(sums, p, scales, 8 * h + 2 * j);
        }
    }
    return dx * d * (float)(hsum_i32x8(sums) - mins);
}

// iq4_xs [136]: d, scales_h u16, scales_l [4], qs [128]; sub-block s: w = d · (ls - 32) · K[nibble].
Q8_KERNEL static float dot_iq4_xs_q8(const uint8_t *b, const int8_t *q, float dx, const int16_t *bs) {
    (void)bs;
    const float d = f16_at(b);
    uint16_t scales_h;
    memcpy(&scales_h, b + 2, 2);
    __m256i sums = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
        const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0x0F) | ((scales_h >> (2 * s)) & 3) << 4;
        const __m256i v = iq4_levels32(b + 8 + 16 * s), x = _mm256_loadu_si256((const __m256i *)(q + 32 * s));
        const __m256i p = pairs(_mm256_sign_epi8(v, v), _mm256_sign_epi8(x, v));
        sums = add_scaled_pairs(sums, p, _mm256_set1_epi16((short)(ls - 32)));
    }
    return dx * d * (float)hsum_i32x8(sums);
}

// y[r] for rows [row_begin, row_end) from x quantized per 32 (dx [k / 32], sums [k / 32]). Four rows at a
// time: each row's blocks still go into one accumulator in order (the bits of one row alone), but the
// four chains of FMAs overlap, where one row waited for each block's FMA before the next; a group reads
// its rows at four times one row's pace, so the prefetch runs ahead in the group's order.
#define DOT_ROWS_Q8_32(name, block_bytes)                                                                    \
    Q8_KERNEL static void dot_rows_##name##_q8(const uint8_t *w, size_t row_bytes, const int8_t *q,           \
                                               const float *dx, const int16_t *sums, float *y,                \
                                               size_t row_begin, size_t row_end, size_t k) {                  \
        const char *fetched = (const char *)w + row_begin * row_bytes + PREFETCH_BYTES;                      \
        size_t r = row_begin;                                                                                \
        for (; r + 4 <= row_end; r += 4) {                                                                   \
            const uint8_t *row = w + r * row_bytes;                                                          \
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
            float rest[4] = {0, 0, 0, 0};                                                                    \
            for (size_t b = 0; b < k / 32; b++) {                                                            \
                prefetch_until(&fetched, (const char *)row + PREFETCH_BYTES + 4 * (b + 1) * block_bytes);    \
                for (int i = 0; i < 4; i++)                                                                  \
                    acc[i] = dot_##name##_q8(row + i * row_bytes + b * block_bytes, q + 32 * b, dx[b], sums[b], \
                                             acc[i], &rest[i]);                                              \
            }                                                                                                \
            for (int i = 0; i < 4; i++) y[r + i] = block_sum8(acc[i]) + rest[i];                             \
        }                                                                                                    \
        for (; r < row_end; r++) {                                                                           \
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
    Q8_KERNEL static void dot_rows_##name##_q8(const uint8_t *w, size_t row_bytes, const int8_t *q,           \
                                               const float *dx, const int16_t *sums, float *y,                \
                                               size_t row_begin, size_t row_end, size_t k) {                  \
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

dot_rows_q8_fn Q8_ROWS(int dtype_code) {
    switch (dtype_code) {
    case 32: return dot_rows_q8_0_q8;
    case 33: return dot_rows_q4_0_q8;
    case 34: return dot_rows_q4_1_q8;
    case 35: return dot_rows_q5_0_q8;
    case 36: return dot_rows_q5_1_q8;
    case 42: return dot_rows_iq4_nl_q8;
    case 37: return dot_rows_q2_k_q8;
    case 38: return dot_rows_q3_k_q8;
    case 39: return dot_rows_q4_k_q8;
    case 40: return dot_rows_q5_k_q8;
    case 41: return dot_rows_q6_k_q8;
    case 43: return dot_rows_iq4_xs_q8;
    default: return NULL;
    }
}

#if QKV_Q8_VNNI
// Many tokens through one weight (a prompt) with 8-bit activations, on panels of sixteen weight rows. A
// panel's blocks are unpacked once into bytes u (0..255) interleaved by four values, chunk c of a block
// holding values 4c..4c+3 of each of the sixteen rows: one vpdpbusd with four of a token's quants broadcast
// then adds those four products for all sixteen rows (a 512-bit register), lane r for row r, and the panel serves every token.
// Per block, row r's y gains d_x · (d · S − dmin · M), both sums exact integers:
//   S = Σ_g scale_g · Σ_{i in group g} u_i · q_i   (groups of `SG` values; a scale of 1 when SG is 0)
//   M = Σ_h min_h · Σ_{i in group h} q_i           (h over the activation's q-sum groups, 32 or 16 values)
// A weight's offset (q8_0's and iq4_nl's 128 added to make u unsigned, q4_0's 8, q5_0's 16, q6_k's 32)
// enters as a min with dmin = d, and S − M is then taken in integers (`share_d`), so it costs no float
// cancellation; the _1 types' m is a min with dmin = −m. These are the one-token kernels' integers, but
// y's float rounding differs from theirs: a prompt's rows are not bit-identical to decoding each token.
enum { PANEL_ROWS = 16, PANEL_TOKENS = 4 };

// Per block of a panel: d [16], dmin [16], then the groups' scales [n / SG][16] as i32 and the mins
// [pairs][16] as i16 pairs (min_2p, min_2p+1) for vpdpwssd against a token's two q sums.
static inline size_t panel_meta_bytes(size_t n, size_t sg) {
    const size_t groups = n == 32 ? 1 : 16;
    return 128 + (sg ? n / sg : 0) * 64 + (groups + 1) / 2 * 64;
}

// One row's block as it enters a panel: u [n] in value order, d, dmin, the scales and the mins per q-sum group.
typedef struct {
    float d, dmin;
    int32_t scale[16];
    int16_t min[16];
} panel_row_meta;

typedef void (*panel_unpack_fn)(const uint8_t *b, uint8_t *u, panel_row_meta *meta);

Q8_KERNEL static void unpack_q8_0(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80)));
    meta->d = meta->dmin = f16_at(b);
    meta->min[0] = 128;
}

Q8_KERNEL static void unpack_q4_0(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, nibbles32(b + 2));
    meta->d = meta->dmin = f16_at(b);
    meta->min[0] = 8;
}

Q8_KERNEL static void unpack_q4_1(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, nibbles32(b + 4));
    meta->d = f16_at(b);
    meta->dmin = -f16_at(b + 2);
    meta->min[0] = 1;
}

Q8_KERNEL static void unpack_q5_0(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, _mm256_or_si256(nibbles32(b + 6), bits32_as_16(b + 2)));
    meta->d = meta->dmin = f16_at(b);
    meta->min[0] = 16;
}

Q8_KERNEL static void unpack_q5_1(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, _mm256_or_si256(nibbles32(b + 8), bits32_as_16(b + 4)));
    meta->d = f16_at(b);
    meta->dmin = -f16_at(b + 2);
    meta->min[0] = 1;
}

Q8_KERNEL static void unpack_iq4_nl(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    _mm256_storeu_si256((__m256i *)u, _mm256_xor_si256(iq4_levels32(b + 2), _mm256_set1_epi8((char)0x80)));
    meta->d = meta->dmin = f16_at(b);
    meta->min[0] = 128;
}

// q4_k and q5_k (qh null for q4_k): sub-block s of 32 values has scale sc_s and min mn_s (both q-sum
// groups 2s and 2s + 1).
Q8_KERNEL static inline void unpack_q45_k(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, uint8_t *u, panel_row_meta *meta) {
    meta->d = f16_at(b);
    meta->dmin = f16_at(b + 2);
    uint8_t sm[16];
    _mm_storeu_si128((__m128i *)sm, k_scales_mins_bytes(b + 4));
    for (int s = 0; s < 8; s++) {
        meta->scale[s] = sm[s];
        meta->min[2 * s] = meta->min[2 * s + 1] = sm[8 + s];
    }
    const __m256i high = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        __m256i lo, hi;
        k_quant_bytes(qs, qh != NULL, high, j, &lo, &hi);
        _mm256_storeu_si256((__m256i *)(u + 64 * j), lo);
        _mm256_storeu_si256((__m256i *)(u + 64 * j + 32), hi);
    }
}

Q8_KERNEL static void unpack_q4_k(const uint8_t *b, uint8_t *u, panel_row_meta *meta) { unpack_q45_k(b, NULL, b + 16, u, meta); }
Q8_KERNEL static void unpack_q5_k(const uint8_t *b, uint8_t *u, panel_row_meta *meta) { unpack_q45_k(b, b + 16, b + 48, u, meta); }

// q6_k: group g of 16 values has scale sc_g and min 32 · sc_g (the bias 32 on u, with dmin = d).
Q8_KERNEL static void unpack_q6_k(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    meta->d = meta->dmin = f16_at(b + 208);
    for (int g = 0; g < 16; g++) {
        meta->scale[g] = (int8_t)b[192 + g];
        meta->min[g] = (int16_t)(32 * (int8_t)b[192 + g]);
    }
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 4; j++) _mm256_storeu_si256((__m256i *)(u + 128 * h + 32 * j), q6_k_bytes(b, h, j));
    }
}

// q2_k and q3_k's 2-bit quants as bytes in value order (value 128·h + 32·l + m: bits 2l of qs[32·h + m]), with
// q3_k's third bit (hmask[m] >> (4h + l)) & 1 as bit 2 where hmask is not null.
Q8_KERNEL static inline void unpack_2bit(const uint8_t *qs, const uint8_t *hmask, uint8_t *u) {
    const __m256i mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i high = hmask ? _mm256_loadu_si256((const __m256i *)hmask) : _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int l = 0; l < 4; l++) {
            __m256i v = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * l), mask);
            if (hmask) v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 4 * h + l), one), 2));
            _mm256_storeu_si256((__m256i *)(u + 128 * h + 32 * l), v);
        }
    }
}

// q2_k: group g of 16 values has scale (low nibble of byte g) and min (high nibble), with d and dmin.
Q8_KERNEL static void unpack_q2_k(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    meta->d = f16_at(b + 80);
    meta->dmin = f16_at(b + 82);
    for (int g = 0; g < 16; g++) {
        meta->scale[g] = b[g] & 0x0F;
        meta->min[g] = b[g] >> 4;
    }
    unpack_2bit(b + 16, NULL, u);
}

// q3_k: group g of 16 values has the six-bit scale sc_g − 32 (low nibble of byte 96 + g % 8, the high one
// for g ≥ 8; its top two bits (u32 at 104 >> (8 · (g % 4) + 2 · (g / 4))) & 3) and the min 4 · (sc_g − 32)
// (u's bias 4, with dmin = d).
Q8_KERNEL static void unpack_q3_k(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    meta->d = meta->dmin = f16_at(b + 108);
    uint32_t hb;
    memcpy(&hb, b + 104, 4);
    for (int g = 0; g < 16; g++) {
        const int low = g < 8 ? b[96 + g] & 0x0F : b[96 + g - 8] >> 4;
        const int high = (hb >> (8 * (g % 4) + 2 * (g / 4))) & 3;
        meta->scale[g] = (low | high << 4) - 32;
        meta->min[g] = (int16_t)(4 * meta->scale[g]);
    }
    unpack_2bit(b + 32, b, u);
}

// iq4_xs: sub-block s of 32 values has the scale ls − 32 and the min 128 · (ls − 32) (u = level + 128, dmin = d).
Q8_KERNEL static void unpack_iq4_xs(const uint8_t *b, uint8_t *u, panel_row_meta *meta) {
    meta->d = meta->dmin = f16_at(b);
    uint16_t scales_h;
    memcpy(&scales_h, b + 2, 2);
    for (int s = 0; s < 8; s++) {
        const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0x0F) | ((scales_h >> (2 * s)) & 3) << 4;
        meta->scale[s] = ls - 32;
        meta->min[2 * s] = meta->min[2 * s + 1] = (int16_t)(128 * (ls - 32));
        _mm256_storeu_si256((__m256i *)(u + 32 * s), _mm256_xor_si256(iq4_levels32(b + 8 + 16 * s), _mm256_set1_epi8((char)0x80)));
    }
}

// Unpacks rows [row, row + count) (count ≤ 16; the others zero) of W [*, k] into a panel: values
// [k / 4][16][4], then per block its meta (panel_meta_bytes). `u` is scratch of 16 · n bytes.
Q8_KERNEL static void unpack_panel(panel_unpack_fn unpack, size_t n, size_t sg, size_t block_bytes, const uint8_t *w, size_t row_bytes,
                                   size_t row, size_t count, size_t k, uint8_t *values, uint8_t *meta, uint8_t *u) {
    const size_t groups = n == 32 ? 1 : 16, pairs = (groups + 1) / 2, meta_bytes = panel_meta_bytes(n, sg);
    for (size_t b = 0; b < k / n; b++) {
        float *d = (float *)(meta + b * meta_bytes), *dmin = d + 16;
        int32_t *scales = (int32_t *)(dmin + 16);
        int16_t *mins = (int16_t *)(scales + (sg ? n / sg : 0) * 16);
        for (size_t r = 0; r < PANEL_ROWS; r++) {
            panel_row_meta m;
            memset(&m, 0, sizeof m);
            if (r < count) unpack(w + (row + r) * row_bytes + b * block_bytes, u + r * n, &m);
            else memset(u + r * n, 0, n);
            d[r] = m.d;
            dmin[r] = m.dmin;
            for (size_t g = 0; sg && g < n / sg; g++) scales[16 * g + r] = m.scale[g];
            for (size_t p = 0; p < pairs; p++) {
                mins[32 * p + 2 * r] = m.min[2 * p];
                mins[32 * p + 2 * r + 1] = 2 * p + 1 < groups ? m.min[2 * p + 1] : 0;
            }
        }
        interleave_rows(u, n, n, values + b * n * 16, 0);
        interleave_rows(u + 8 * n, n, n, values + b * n * 16, 1);
    }
}

// The 32-bit word at p broadcast to all sixteen lanes (four i8 quants, or two i16 q sums).
Q8_KERNEL static inline __m512i broadcast32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Y [t, row + r] for PANEL_TOKENS tokens (their quants q[t] [k], scales dx[t] [k / n], q sums sums[t] [k / gq,
// one i16 of padding after]) against one panel; lanes r ≥ count are not stored. Inlined per dtype, so n,
// sg and share_d are constants.
Q8_KERNEL static inline __attribute__((always_inline)) void panel_tokens(
    const uint8_t *values, const uint8_t *meta, size_t n, size_t sg, int share_d, size_t k,
    const int8_t *const q[PANEL_TOKENS], const float *const dx[PANEL_TOKENS], const int16_t *const sums[PANEL_TOKENS],
    float *const y[PANEL_TOKENS], size_t stored, size_t count) {
    const size_t groups = n == 32 ? 1 : 16, gq = n / groups, pairs = (groups + 1) / 2, meta_bytes = panel_meta_bytes(n, sg);
    __m512 acc[PANEL_TOKENS];
    for (int t = 0; t < PANEL_TOKENS; t++) acc[t] = _mm512_setzero_ps();
    for (size_t b = 0; b < k / n; b++) {
        const uint8_t *vb = values + b * n * 16;
        const float *d = (const float *)(meta + b * meta_bytes), *dmin = d + 16;
        const int32_t *scales = (const int32_t *)(dmin + 16);
        const int16_t *mins = (const int16_t *)(scales + (sg ? n / sg : 0) * 16);
        __m512i s[PANEL_TOKENS], m[PANEL_TOKENS];
        for (int t = 0; t < PANEL_TOKENS; t++) s[t] = m[t] = _mm512_setzero_si512();
        if (!sg) {
            for (size_t c = 0; c < n / 4; c++) {
                const __m512i wc = _mm512_loadu_si512((const void *)(vb + 64 * c));
                for (int t = 0; t < PANEL_TOKENS; t++) s[t] = _mm512_dpbusd_epi32(s[t], wc, broadcast32(q[t] + b * n + 4 * c));
            }
        } else {
            for (size_t g = 0; g < n / sg; g++) {
                __m512i part[PANEL_TOKENS];
                for (int t = 0; t < PANEL_TOKENS; t++) part[t] = _mm512_setzero_si512();
                for (size_t c = g * sg / 4; c < (g + 1) * sg / 4; c++) {
                    const __m512i wc = _mm512_loadu_si512((const void *)(vb + 64 * c));
                    for (int t = 0; t < PANEL_TOKENS; t++) part[t] = _mm512_dpbusd_epi32(part[t], wc, broadcast32(q[t] + b * n + 4 * c));
                }
                const __m512i scale = _mm512_loadu_si512((const void *)(scales + 16 * g));
                for (int t = 0; t < PANEL_TOKENS; t++) s[t] = _mm512_add_epi32(s[t], _mm512_mullo_epi32(part[t], scale));
            }
        }
        for (size_t p = 0; p < pairs; p++) {
            const __m512i mp = _mm512_loadu_si512((const void *)(mins + 32 * p));
            for (int t = 0; t < PANEL_TOKENS; t++) m[t] = _mm512_dpwssd_epi32(m[t], mp, broadcast32(sums[t] + b * (n / gq) + 2 * p));
        }
        const __m512 dv = _mm512_loadu_ps(d), dminv = _mm512_loadu_ps(dmin);
        for (int t = 0; t < PANEL_TOKENS; t++) {
            const __m512 scale = _mm512_set1_ps(dx[t][b]);
            if (share_d) {
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[t], m[t])), _mm512_mul_ps(dv, scale), acc[t]);
            } else {
                const __m512 v = _mm512_fmsub_ps(dv, _mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dminv, _mm512_cvtepi32_ps(m[t])));
                acc[t] = _mm512_fmadd_ps(v, scale, acc[t]);
            }
        }
    }
    const __mmask16 lanes = (__mmask16)((1u << count) - 1);
    for (size_t t = 0; t < stored; t++) _mm512_mask_storeu_ps(y[t], lanes, acc[t]);
}

// Y [t, r] for t in [0, m), r in [row_begin, row_end): the tokens already quantized (token t's quants at
// q + t · k, scales at dx + t · (k / n), q sums at sums + t · (k / gq + 2)), panel by panel; `panel` is
// scratch of qkv_q8_panel_bytes(dtype, k) bytes.
#define PANEL_GEMM(name, n, sg, share_d, block_bytes)                                                          \
    Q8_KERNEL static void panel_gemm_##name(const int8_t *q, const float *dx, const int16_t *sums, size_t m,      \
                                            const uint8_t *w, size_t row_bytes, size_t k, float *y, size_t ldy,  \
                                            size_t row_begin, size_t row_end, uint8_t *panel) {                  \
        const size_t gq = n == 32 ? 32 : 16;                                                                  \
        uint8_t *values = panel, *meta = panel + 16 * k, *u = meta + (k / n) * panel_meta_bytes(n, sg);         \
        for (size_t row = row_begin; row < row_end; row += PANEL_ROWS) {                                      \
            const size_t count = row_end - row < PANEL_ROWS ? row_end - row : PANEL_ROWS;                      \
            unpack_panel(unpack_##name, n, sg, block_bytes, w, row_bytes, row, count, k, values, meta, u);     \
            for (size_t t0 = 0; t0 < m; t0 += PANEL_TOKENS) {                                                \
                const int8_t *tq[PANEL_TOKENS];                                                               \
                const float *tdx[PANEL_TOKENS];                                                               \
                const int16_t *tsums[PANEL_TOKENS];                                                           \
                float *ty[PANEL_TOKENS];                                                                      \
                const size_t stored = m - t0 < PANEL_TOKENS ? m - t0 : PANEL_TOKENS;                          \
                for (size_t i = 0; i < PANEL_TOKENS; i++) {                                                   \
                    const size_t t = t0 + (i < stored ? i : 0);                                               \
                    tq[i] = q + t * k;                                                                        \
                    tdx[i] = dx + t * (k / n);                                                                \
                    tsums[i] = sums + t * (k / gq + 2);                                                       \
                    ty[i] = y + t * ldy + row;                                                                \
                }                                                                                             \
                panel_tokens(values, meta, n, sg, share_d, k, tq, tdx, tsums, ty, stored, count);            \
            }                                                                                                 \
        }                                                                                                     \
    }

// Each type with panels: its dtype code, activation block n, scale group sg (0: none), whether dmin is d
// (share_d), and its block bytes.
#define PANEL_TYPES(X)                 \
    X(q8_0, 32, 32, 0, 1, 34)          \
    X(q4_0, 33, 32, 0, 1, 18)          \
    X(q4_1, 34, 32, 0, 0, 20)          \
    X(q5_0, 35, 32, 0, 1, 22)          \
    X(q5_1, 36, 32, 0, 0, 24)          \
    X(q2_k, 37, 256, 16, 0, 84)        \
    X(q3_k, 38, 256, 16, 1, 110)       \
    X(q4_k, 39, 256, 32, 0, 144)       \
    X(q5_k, 40, 256, 32, 0, 176)       \
    X(q6_k, 41, 256, 16, 1, 210)       \
    X(iq4_nl, 42, 32, 0, 1, 18)        \
    X(iq4_xs, 43, 256, 32, 1, 136)

#define PANEL_GEMM_OF(name, code, n, sg, share_d, block_bytes) PANEL_GEMM(name, n, sg, share_d, block_bytes)
PANEL_TYPES(PANEL_GEMM_OF)

// A type's panel kernel and shape, by dtype code.
typedef struct {
    int code;
    qkv_q8_panel_gemm_fn gemm;
    size_t n, sg;
} panel_type;

#define PANEL_TYPE_ENTRY(name, code, n, sg, share_d, block_bytes) {code, panel_gemm_##name, n, sg},
static const panel_type panel_types[] = {PANEL_TYPES(PANEL_TYPE_ENTRY)};

static const panel_type *panel_type_of(int dtype_code) {
    for (size_t i = 0; i < sizeof panel_types / sizeof panel_types[0]; i++)
        if (panel_types[i].code == dtype_code) return &panel_types[i];
    return NULL;
}

qkv_q8_panel_gemm_fn qkv_q8_panel_gemm_vnni(int dtype_code) {
    const panel_type *type = panel_type_of(dtype_code);
    return type ? type->gemm : NULL;
}

size_t qkv_q8_panel_bytes(int dtype_code, size_t k) {
    const panel_type *type = panel_type_of(dtype_code);
    return type ? 16 * k + (k / type->n) * panel_meta_bytes(type->n, type->sg) + 16 * type->n : 0;
}
#endif
