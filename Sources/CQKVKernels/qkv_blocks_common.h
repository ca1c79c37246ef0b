// What qkv_blocks.c's f32-activation kernels, the 8-bit-activation kernels (qkv_blocks_q8.h, built once
// per instruction set) and the bf16 panels (qkv_panels_bf16.c) share: the AVX2 target, the f16 scale read,
// the iq4 levels, q4_k's and q5_k's packed scales, and the panels' row interleave (x86 only).
#ifndef QKV_BLOCKS_COMMON_H
#define QKV_BLOCKS_COMMON_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KERNEL __attribute__((target("avx2,fma,f16c")))

// The sum of the eight lanes of v.
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

// The 16 levels of iq4_nl and iq4_xs, indexed by a nibble.
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// The eight 6-bit scales (bytes 0..7) and mins (bytes 8..15) of q4_k's and q5_k's sub-blocks from their
// 12 bytes at sc: sub-blocks 0..3 take the low six bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 the
// low (scales) and high (mins) nibbles of bytes 8..11, with the top two bits of bytes 0..3 (scales) and
// 4..7 (mins) above them. Four 32-bit words of bit operations instead of sixteen per-byte extractions.
KERNEL static inline __m128i k_scales_mins_bytes(const uint8_t *sc) {
    uint32_t a, b, c;
    memcpy(&a, sc, 4); memcpy(&b, sc + 4, 4); memcpy(&c, sc + 8, 4);
    const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, top2 = 0x03030303;
    return _mm_setr_epi32((int)(a & low6), (int)((c & low4) | ((a >> 6) & top2) << 4),
                          (int)(b & low6), (int)(((c >> 4) & low4) | ((b >> 6) & top2) << 4));
}

// n bytes (a multiple of 32) of each of eight rows (rows `stride` bytes apart) into half `half` of a
// sixteen-row panel's 4-byte chunks: out [n / 4][2][8][4], chunk c of row r at 64c + 32·half + 4r. An 8 x 8
// transpose of 32-bit words per 32 bytes (the 8-bit-activation and bf16 panels).
KERNEL static inline void interleave_rows(const uint8_t *u, size_t stride, size_t n, uint8_t *out, int half) {
    for (size_t v = 0; v < n; v += 32) {
        __m256i r[8], a[8], b2[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256((const __m256i *)(u + i * stride + v));
        for (int i = 0; i < 8; i += 2) {
            a[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
            a[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            b2[i] = _mm256_unpacklo_epi64(a[i], a[i + 2]);
            b2[i + 1] = _mm256_unpackhi_epi64(a[i], a[i + 2]);
            b2[i + 2] = _mm256_unpacklo_epi64(a[i + 1], a[i + 3]);
            b2[i + 3] = _mm256_unpackhi_epi64(a[i + 1], a[i + 3]);
        }
        // b2[0..3]: rows 0..3 of words {0,4}, {1,5}, {2,6}, {3,7}; b2[4..7] rows 4..7 of the same.
        for (int i = 0; i < 4; i++) {
            _mm256_storeu_si256((__m256i *)(out + 16 * v + 64 * i + 32 * half), _mm256_permute2x128_si256(b2[i], b2[i + 4], 0x20));
            _mm256_storeu_si256((__m256i *)(out + 16 * v + 64 * (i + 4) + 32 * half), _mm256_permute2x128_si256(b2[i], b2[i + 4], 0x31));
        }
    }
}

#endif
