// What qkv_blocks.c's f32-activation kernels and the 8-bit-activation kernels (qkv_blocks_q8.h, built
// once per instruction set) share: the AVX2 target, the f16 scale read, the iq4 levels and the K types'
// packed scales (x86 only).
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

// The 6-bit scale and min of q4_k's and q5_k's sub-block s from their 12 bytes.
static inline void k_scale_min(const uint8_t *sc, int s, int *scale, int *min) {
    if (s < 4) { *scale = sc[s] & 63; *min = sc[s + 4] & 63; }
    else { *scale = (sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4); *min = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4); }
}

#endif
