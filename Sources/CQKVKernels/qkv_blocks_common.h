// What qkv_blocks.c's f32-activation kernels and the 8-bit-activation kernels (qkv_blocks_q8.h, built
// once per instruction set) share: the AVX2 target, the f16 scale read, the iq4 levels and q4_k's and
// q5_k's packed scales (x86 only).
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

#endif
