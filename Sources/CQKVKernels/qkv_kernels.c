// AVX2/FMA/F16C matrix-vector kernels; see include/qkv_kernels.h for what and why. Every function
// that uses the instructions carries the target attribute, so this file builds for baseline x86-64 and
// the caller decides at run time (qkv_kernels_supported). Index arithmetic is size_t: every index is
// below a buffer's element count, which the caller guarantees.
#include "qkv_kernels.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma,f16c")))
#define KERNEL512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

#include "qkv_prefetch.h"

// The level in use: 0: neither; 1: AVX2, FMA and F16C; 2: those and AVX-512 (F, BW, VL). Stored by
// qkv_kernels_limit (QKVInference's NativeKernels.level, once per process; tests comparing levels, between
// kernel calls). Atomic, so a kernel reading it on another thread is well-defined C; the relaxed load
// compiles to the plain load it was.
static _Atomic int level;

static inline int current_level(void) { return atomic_load_explicit(&level, memory_order_relaxed); }

// Whether the one-token row kernels run sixteen lanes wide at level 2: -1 (the default) by vendor, 1
// always, 0 never (qkv_kernels_prefer_wide_rows). AMD's cores (Zen 4) execute a 512-bit operation as two
// 256-bit halves, and their row kernels, which stream W from memory, ran slower sixteen wide than eight
// (Specs/benchmarks.md); Intel's run them at full width. 1 in amd_cpu once qkv_kernels_detected has run.
static _Atomic int wide_rows_choice = -1;
static _Atomic int amd_cpu;

static inline int wide_rows(void) {
    if (current_level() != 2) return 0;
    const int choice = atomic_load_explicit(&wide_rows_choice, memory_order_relaxed);
    return choice >= 0 ? choice : !atomic_load_explicit(&amd_cpu, memory_order_relaxed);
}

int qkv_kernels_wide_rows(void) { return wide_rows(); }

void qkv_kernels_prefer_wide_rows(int choice) {
    atomic_store_explicit(&wide_rows_choice, choice < 0 ? -1 : choice > 0, memory_order_relaxed);
}

int qkv_kernels_detected(void) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    atomic_store_explicit(&amd_cpu, __builtin_cpu_is("amd") ? 1 : 0, memory_order_relaxed);
    return avx512 ? 2 : avx2 ? 1 : 0;
}

int qkv_kernels_supported(void) { return qkv_kernels_detected() > 0; }

int qkv_kernels_vnni(void) { return qkv_kernels_detected() == 2 && __builtin_cpu_supports("avx512vnni"); }

int qkv_kernels_level(void) { return current_level(); }

int qkv_kernels_limit(int max_level) {
    int detected = qkv_kernels_detected();
    int chosen = detected > max_level ? (max_level < 0 ? 0 : max_level) : detected;
    atomic_store_explicit(&level, chosen, memory_order_relaxed);
    return chosen;
}

// Eight elements at element index i of a row, as f32; and one.
KERNEL static inline __m256 load8_f32(const void *row, size_t i) { return _mm256_loadu_ps((const float *)row + i); }
KERNEL static inline float load1_f32(const void *row, size_t i) { return ((const float *)row)[i]; }
KERNEL static inline __m256 load8_f16(const void *row, size_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
}
KERNEL static inline float load1_f16(const void *row, size_t i) { return _cvtsh_ss(((const uint16_t *)row)[i]); }
// bf16 is the top half of an f32: zero-extend to 32 bits and shift.
KERNEL static inline __m256 load8_bf16(const void *row, size_t i) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
KERNEL static inline float load1_bf16(const void *row, size_t i) {
    uint32_t bits = (uint32_t)((const uint16_t *)row)[i] << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

// The eight lanes of v summed, always in the same order.
KERNEL static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// y[r] = W[r, :] · x: four rows at a time (four sequential streams per thread, each x load serving four
// rows), two accumulators per row (eight independent FMA chains); a row alone sums in the same order.
#define DOT_ROWS(NAME, LOAD8, LOAD1, ESIZE)                                                                      \
KERNEL static void NAME(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, \
                 size_t k) {                                                                                \
    const char *base = (const char *)w;                                                                     \
    const char *fetched = base + row_begin * row_bytes + PREFETCH_BYTES;                                    \
    size_t r = row_begin;                                                                                   \
    for (; r + 4 <= row_end; r += 4) {                                                                      \
        const char *r0 = base + r * row_bytes, *r1 = r0 + row_bytes, *r2 = r1 + row_bytes, *r3 = r2 + row_bytes; \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;   \
        size_t i = 0;                                                                                       \
        for (; i + 16 <= k; i += 16) {                                                                      \
            prefetch_until(&fetched, r0 + PREFETCH_BYTES + 4 * (i + 16) * ESIZE);                           \
            __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);                           \
            a0 = _mm256_fmadd_ps(LOAD8(r0, i), xa, a0); b0 = _mm256_fmadd_ps(LOAD8(r0, i + 8), xb, b0);    \
            a1 = _mm256_fmadd_ps(LOAD8(r1, i), xa, a1); b1 = _mm256_fmadd_ps(LOAD8(r1, i + 8), xb, b1);    \
            a2 = _mm256_fmadd_ps(LOAD8(r2, i), xa, a2); b2 = _mm256_fmadd_ps(LOAD8(r2, i + 8), xb, b2);    \
            a3 = _mm256_fmadd_ps(LOAD8(r3, i), xa, a3); b3 = _mm256_fmadd_ps(LOAD8(r3, i + 8), xb, b3);    \
        }                                                                                                   \
        if (i + 8 <= k) {                                                                                   \
            __m256 xa = _mm256_loadu_ps(x + i);                                                             \
            a0 = _mm256_fmadd_ps(LOAD8(r0, i), xa, a0); a1 = _mm256_fmadd_ps(LOAD8(r1, i), xa, a1);        \
            a2 = _mm256_fmadd_ps(LOAD8(r2, i), xa, a2); a3 = _mm256_fmadd_ps(LOAD8(r3, i), xa, a3);        \
            i += 8;                                                                                         \
        }                                                                                                   \
        float s0 = sum8(_mm256_add_ps(a0, b0)), s1 = sum8(_mm256_add_ps(a1, b1));                           \
        float s2 = sum8(_mm256_add_ps(a2, b2)), s3 = sum8(_mm256_add_ps(a3, b3));                           \
        for (; i < k; i++) {                                                                                \
            s0 += LOAD1(r0, i) * x[i]; s1 += LOAD1(r1, i) * x[i];                                           \
            s2 += LOAD1(r2, i) * x[i]; s3 += LOAD1(r3, i) * x[i];                                           \
        }                                                                                                   \
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;                                             \
    }                                                                                                       \
    for (; r < row_end; r++) {                                                                              \
        const char *r0 = base + r * row_bytes;                                                              \
        __m256 a0 = _mm256_setzero_ps(), b0 = a0;                                                           \
        size_t i = 0;                                                                                       \
        for (; i + 16 <= k; i += 16) {                                                                      \
            a0 = _mm256_fmadd_ps(LOAD8(r0, i), _mm256_loadu_ps(x + i), a0);                                 \
            b0 = _mm256_fmadd_ps(LOAD8(r0, i + 8), _mm256_loadu_ps(x + i + 8), b0);                         \
        }                                                                                                   \
        if (i + 8 <= k) { a0 = _mm256_fmadd_ps(LOAD8(r0, i), _mm256_loadu_ps(x + i), a0); i += 8; }         \
        float s0 = sum8(_mm256_add_ps(a0, b0));                                                             \
        for (; i < k; i++) s0 += LOAD1(r0, i) * x[i];                                                       \
        y[r] = s0;                                                                                          \
    }                                                                                                       \
}

DOT_ROWS(dot_rows_f32_avx2, load8_f32, load1_f32, 4)
DOT_ROWS(dot_rows_f16_avx2, load8_f16, load1_f16, 2)
DOT_ROWS(dot_rows_bf16_avx2, load8_bf16, load1_bf16, 2)

// y[c] = Σ_i x[i] · W[i, c]: four rows at a time, each read along the whole share of columns (sequential
// runs), added into y, which stays in L1; then the rows left one at a time.
#define DOT_COLUMNS(NAME, LOAD8, LOAD1)                                                                     \
KERNEL static void NAME(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin,   \
                 size_t column_end, size_t k) {                                                             \
    const char *base = (const char *)w;                                                                     \
    for (size_t c = column_begin; c < column_end; c++) y[c] = 0;                                            \
    size_t i = 0;                                                                                           \
    for (; i + 4 <= k; i += 4) {                                                                            \
        const char *r0 = base + i * row_bytes, *r1 = r0 + row_bytes, *r2 = r1 + row_bytes, *r3 = r2 + row_bytes; \
        __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]);                                  \
        __m256 x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);                              \
        size_t c = column_begin;                                                                            \
        for (; c + 8 <= column_end; c += 8) {                                                               \
            __m256 t = _mm256_fmadd_ps(x1, LOAD8(r1, c), _mm256_mul_ps(x0, LOAD8(r0, c)));                 \
            __m256 u = _mm256_fmadd_ps(x3, LOAD8(r3, c), _mm256_mul_ps(x2, LOAD8(r2, c)));                 \
            _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(y + c), _mm256_add_ps(t, u)));           \
        }                                                                                                   \
        for (; c < column_end; c++)                                                                         \
            y[c] += (x[i] * LOAD1(r0, c) + x[i + 1] * LOAD1(r1, c)) + (x[i + 2] * LOAD1(r2, c) + x[i + 3] * LOAD1(r3, c)); \
    }                                                                                                       \
    for (; i < k; i++) {                                                                                    \
        const char *r0 = base + i * row_bytes;                                                              \
        __m256 x0 = _mm256_set1_ps(x[i]);                                                                   \
        size_t c = column_begin;                                                                            \
        for (; c + 8 <= column_end; c += 8)                                                                 \
            _mm256_storeu_ps(y + c, _mm256_fmadd_ps(x0, LOAD8(r0, c), _mm256_loadu_ps(y + c)));            \
        for (; c < column_end; c++) y[c] += x[i] * LOAD1(r0, c);                                            \
    }                                                                                                       \
}

DOT_COLUMNS(dot_columns_f32_avx2, load8_f32, load1_f32)
DOT_COLUMNS(dot_columns_f16_avx2, load8_f16, load1_f16)
DOT_COLUMNS(dot_columns_bf16_avx2, load8_bf16, load1_bf16)

enum { Q8_BLOCK_BYTES = 34 };

// Eight int8 at p as f32.
KERNEL static inline __m256 load8_i8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
KERNEL static inline float q8_scale(const uint8_t *block) {
    uint16_t bits;
    __builtin_memcpy(&bits, block, 2);
    return _cvtsh_ss(bits);
}
// One block's 32 products with x[0..<32], as eight partial sums.
KERNEL static inline __m256 q8_block_dot(const uint8_t *block, const float *x) {
    __m256 s = _mm256_mul_ps(load8_i8(block + 2), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(load8_i8(block + 10), _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(load8_i8(block + 18), _mm256_loadu_ps(x + 16), s);
    return _mm256_fmadd_ps(load8_i8(block + 26), _mm256_loadu_ps(x + 24), s);
}

KERNEL static void dot_rows_q8_0_avx2(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    const size_t blocks = k / 32, row_bytes = blocks * Q8_BLOCK_BYTES;
    const uint8_t *base = (const uint8_t *)w;
    const char *fetched = (const char *)base + row_begin * row_bytes + PREFETCH_BYTES;
    size_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) {
        const uint8_t *b0 = base + r * row_bytes, *b1 = b0 + row_bytes, *b2 = b1 + row_bytes, *b3 = b2 + row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t b = 0; b < blocks; b++) {
            const float *xb = x + 32 * b;
            const size_t o = b * Q8_BLOCK_BYTES;
            prefetch_until(&fetched, (const char *)b0 + PREFETCH_BYTES + 4 * (o + Q8_BLOCK_BYTES));
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(q8_scale(b0 + o)), q8_block_dot(b0 + o, xb), a0);
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(q8_scale(b1 + o)), q8_block_dot(b1 + o, xb), a1);
            a2 = _mm256_fmadd_ps(_mm256_set1_ps(q8_scale(b2 + o)), q8_block_dot(b2 + o, xb), a2);
            a3 = _mm256_fmadd_ps(_mm256_set1_ps(q8_scale(b3 + o)), q8_block_dot(b3 + o, xb), a3);
        }
        y[r] = sum8(a0); y[r + 1] = sum8(a1); y[r + 2] = sum8(a2); y[r + 3] = sum8(a3);
    }
    for (; r < row_end; r++) {
        const uint8_t *b0 = base + r * row_bytes;
        __m256 a0 = _mm256_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *p = b0 + b * Q8_BLOCK_BYTES;
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(q8_scale(p)), q8_block_dot(p, x + 32 * b), a0);
        }
        y[r] = sum8(a0);
    }
}

// A few tokens (m <= 8) through W [*, k] of q8_0: each block's 32 values widened once for all tokens, then
// each token's sum made exactly as dot_rows_q8_0_avx2 makes it (the block's partial sums, then scaled into
// one accumulator per row), so Y's row t has the bits of that kernel on token t alone.
KERNEL static void gemm_rows_q8_0_avx2(const float *x, size_t ldx, size_t m, const void *w, size_t k, float *y, size_t ldy,
                                       size_t row_begin, size_t row_end) {
    const size_t blocks = k / 32, row_bytes = blocks * Q8_BLOCK_BYTES;
    const uint8_t *base = (const uint8_t *)w;
    const char *fetched = (const char *)base + row_begin * row_bytes + PREFETCH_BYTES;
    for (size_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = base + r * row_bytes;
        __m256 a[8];
        for (size_t t = 0; t < m; t++) a[t] = _mm256_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *p = row + b * Q8_BLOCK_BYTES;
            prefetch_until(&fetched, (const char *)p + PREFETCH_BYTES + Q8_BLOCK_BYTES);
            const __m256 d = _mm256_set1_ps(q8_scale(p));
            const __m256 w0 = load8_i8(p + 2), w1 = load8_i8(p + 10), w2 = load8_i8(p + 18), w3 = load8_i8(p + 26);
            for (size_t t = 0; t < m; t++) {
                const float *xb = x + t * ldx + 32 * b;
                __m256 s = _mm256_mul_ps(w0, _mm256_loadu_ps(xb));
                s = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 8), s);
                s = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xb + 16), s);
                a[t] = _mm256_fmadd_ps(d, _mm256_fmadd_ps(w3, _mm256_loadu_ps(xb + 24), s), a[t]);
            }
        }
        for (size_t t = 0; t < m; t++) y[t * ldy + r] = sum8(a[t]);
    }
}

// W [k, n] with blocks along each row: two rows at a time, each block of a row scaled by x[i] · its scale.
KERNEL static void dot_columns_q8_0_avx2(const void *w, size_t n, const float *x, float *y, size_t column_begin,
                                         size_t column_end, size_t k) {
    const size_t row_bytes = n / 32 * Q8_BLOCK_BYTES, first_block = column_begin / 32, blocks = (column_end - column_begin) / 32;
    const uint8_t *base = (const uint8_t *)w;
    for (size_t c = column_begin; c < column_end; c++) y[c] = 0;
    for (size_t i = 0; i < k; i += 2) {
        const int pair = i + 1 < k;
        const uint8_t *p0 = base + i * row_bytes + first_block * Q8_BLOCK_BYTES;
        const uint8_t *p1 = pair ? p0 + row_bytes : p0;
        const float x0 = x[i], x1 = pair ? x[i + 1] : 0;
        float *out = y + column_begin;
        for (size_t b = 0; b < blocks; b++, p0 += Q8_BLOCK_BYTES, p1 += Q8_BLOCK_BYTES, out += 32) {
            __m256 s0 = _mm256_set1_ps(x0 * q8_scale(p0)), s1 = _mm256_set1_ps(x1 * q8_scale(p1));
            for (int j = 0; j < 32; j += 8) {
                __m256 t = _mm256_fmadd_ps(s1, load8_i8(p1 + 2 + j), _mm256_mul_ps(s0, load8_i8(p0 + 2 + j)));
                _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_loadu_ps(out + j), t));
            }
        }
    }
}

// One query head of one new token against its cached keys and values (AVX2 is enough: this is L1/L2
// work, 4-9 % of decode, where the Swift loops run SSE2 without FMA and reduce every key horizontally).
// scores[j] = scale · (q · K[j]): four keys at a time, two sums each over alternate eighths of d.
KERNEL void qkv_attention_scores(const float *q, const float *keys, size_t positions, size_t d, float scale, float *scores) {
    size_t j = 0;
    for (; j + 4 <= positions; j += 4) {
        const float *k0 = keys + j * d, *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t c = 0;
        for (; c + 16 <= d; c += 16) {
            __m256 qa = _mm256_loadu_ps(q + c), qb = _mm256_loadu_ps(q + c + 8);
            a0 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k0 + c), a0); b0 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k0 + c + 8), b0);
            a1 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k1 + c), a1); b1 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k1 + c + 8), b1);
            a2 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k2 + c), a2); b2 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k2 + c + 8), b2);
            a3 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k3 + c), a3); b3 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k3 + c + 8), b3);
        }
        if (c < d) {
            __m256 qa = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k0 + c), a0); a1 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k1 + c), a1);
            a2 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k2 + c), a2); a3 = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k3 + c), a3);
        }
        scores[j] = sum8(_mm256_add_ps(a0, b0)) * scale; scores[j + 1] = sum8(_mm256_add_ps(a1, b1)) * scale;
        scores[j + 2] = sum8(_mm256_add_ps(a2, b2)) * scale; scores[j + 3] = sum8(_mm256_add_ps(a3, b3)) * scale;
    }
    for (; j < positions; j++) {
        const float *k0 = keys + j * d;
        __m256 a0 = _mm256_setzero_ps();
        for (size_t c = 0; c < d; c += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(k0 + c), a0);
        scores[j] = sum8(a0) * scale;
    }
}

// z[c] = scale · Σ_j p[j] · V[j, c] for 8 · SUMS columns from c, in SUMS independent sums (one chain of
// FMAs per eighth would wait on its own latency), keys in order. SUMS is a constant after inlining.
KERNEL static inline __attribute__((always_inline)) void mix_columns(const float *p, const float *values, size_t ldv,
        size_t positions, __m256 scale, float *z, const int SUMS) {
    __m256 a[8];
    for (int v = 0; v < SUMS; v++) a[v] = _mm256_setzero_ps();
    for (size_t j = 0; j < positions; j++, values += ldv) {
        __m256 pj = _mm256_set1_ps(p[j]);
        for (int v = 0; v < SUMS; v++) a[v] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(values + 8 * v), a[v]);
    }
    for (int v = 0; v < SUMS; v++) _mm256_storeu_ps(z + 8 * v, _mm256_mul_ps(a[v], scale));
}

// z[c] = scale · Σ_j p[j] · V[j, c], V's rows ldv apart: 64 columns at a time, then 32 (a whole head of
// MiniLM), then 8.
KERNEL void qkv_attention_mix(const float *p, const float *values, size_t ldv, size_t positions, size_t d, float scale, float *z) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t c = 0;
    for (; c + 64 <= d; c += 64) mix_columns(p, values + c, ldv, positions, s, z + c, 8);
    if (c + 32 <= d) { mix_columns(p, values + c, ldv, positions, s, z + c, 4); c += 32; }
    for (; c < d; c += 8) mix_columns(p, values + c, ldv, positions, s, z + c, 1);
}

// scores[j] = scale · Σ_c q[c] · Kᵀ[c, j] for j < width (a multiple of 8), Kᵀ [d, width]: the encoder's
// layout (every query of a sentence against one transposed copy of its keys), 32 keys at a time.
KERNEL void qkv_attention_scores_transposed(const float *q, const float *keys_t, size_t width, size_t d, float scale, float *scores) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t j = 0;
    for (; j + 32 <= width; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *column = keys_t + j;
        for (size_t c = 0; c < d; c++, column += width) {
            __m256 qc = _mm256_set1_ps(q[c]);
            a0 = _mm256_fmadd_ps(qc, _mm256_loadu_ps(column), a0); a1 = _mm256_fmadd_ps(qc, _mm256_loadu_ps(column + 8), a1);
            a2 = _mm256_fmadd_ps(qc, _mm256_loadu_ps(column + 16), a2); a3 = _mm256_fmadd_ps(qc, _mm256_loadu_ps(column + 24), a3);
        }
        _mm256_storeu_ps(scores + j, _mm256_mul_ps(a0, s)); _mm256_storeu_ps(scores + j + 8, _mm256_mul_ps(a1, s));
        _mm256_storeu_ps(scores + j + 16, _mm256_mul_ps(a2, s)); _mm256_storeu_ps(scores + j + 24, _mm256_mul_ps(a3, s));
    }
    for (; j + 8 <= width; j += 8) {
        __m256 a = _mm256_setzero_ps();
        const float *column = keys_t + j;
        for (size_t c = 0; c < d; c++, column += width) a = _mm256_fmadd_ps(_mm256_set1_ps(q[c]), _mm256_loadu_ps(column), a);
        _mm256_storeu_ps(scores + j, _mm256_mul_ps(a, s));
    }
}

KERNEL void qkv_widen_f16(const void *src, float *out, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, load8_f16(src, i));
    for (; i < count; i++) out[i] = load1_f16(src, i);
}

KERNEL void qkv_widen_bf16(const void *src, float *out, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, load8_bf16(src, i));
    for (; i < count; i++) out[i] = load1_bf16(src, i);
}

KERNEL void qkv_widen_q8_0(const void *src, float *out, size_t blocks) {
    const uint8_t *p = (const uint8_t *)src;
    for (size_t b = 0; b < blocks; b++, p += Q8_BLOCK_BYTES, out += 32) {
        __m256 scale = _mm256_set1_ps(q8_scale(p));
        for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(out + j, _mm256_mul_ps(scale, load8_i8(p + 2 + j)));
    }
}

// AVX-512: the same kernels sixteen lanes wide (half the instructions per weight; f16, bf16 and q8_0
// decoding are bound by instructions, not memory, at eight lanes: Specs/benchmarks.md).
KERNEL512 static inline __m512 load16_f32(const void *row, size_t i) { return _mm512_loadu_ps((const float *)row + i); }
KERNEL512 static inline __m512 load16_f16(const void *row, size_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
}
KERNEL512 static inline __m512 load16_bf16(const void *row, size_t i) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
// The sixteen lanes of v summed, always in the same order.
KERNEL512 static inline float sum16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define DOT_ROWS_512(NAME, LOAD16, LOAD1, ESIZE)                                                                 \
KERNEL512 static void NAME(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin,   \
                           size_t row_end, size_t k) {                                                      \
    const char *base = (const char *)w;                                                                     \
    const char *fetched = base + row_begin * row_bytes + PREFETCH_BYTES;                                    \
    size_t r = row_begin;                                                                                   \
    for (; r + 4 <= row_end; r += 4) {                                                                      \
        const char *r0 = base + r * row_bytes, *r1 = r0 + row_bytes, *r2 = r1 + row_bytes, *r3 = r2 + row_bytes; \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;   \
        size_t i = 0;                                                                                       \
        for (; i + 32 <= k; i += 32) {                                                                      \
            prefetch_until(&fetched, r0 + PREFETCH_BYTES + 4 * (i + 32) * ESIZE);                           \
            __m512 xa = _mm512_loadu_ps(x + i), xb = _mm512_loadu_ps(x + i + 16);                          \
            a0 = _mm512_fmadd_ps(LOAD16(r0, i), xa, a0); b0 = _mm512_fmadd_ps(LOAD16(r0, i + 16), xb, b0); \
            a1 = _mm512_fmadd_ps(LOAD16(r1, i), xa, a1); b1 = _mm512_fmadd_ps(LOAD16(r1, i + 16), xb, b1); \
            a2 = _mm512_fmadd_ps(LOAD16(r2, i), xa, a2); b2 = _mm512_fmadd_ps(LOAD16(r2, i + 16), xb, b2); \
            a3 = _mm512_fmadd_ps(LOAD16(r3, i), xa, a3); b3 = _mm512_fmadd_ps(LOAD16(r3, i + 16), xb, b3); \
        }                                                                                                   \
        if (i + 16 <= k) {                                                                                  \
            __m512 xa = _mm512_loadu_ps(x + i);                                                             \
            a0 = _mm512_fmadd_ps(LOAD16(r0, i), xa, a0); a1 = _mm512_fmadd_ps(LOAD16(r1, i), xa, a1);      \
            a2 = _mm512_fmadd_ps(LOAD16(r2, i), xa, a2); a3 = _mm512_fmadd_ps(LOAD16(r3, i), xa, a3);      \
            i += 16;                                                                                        \
        }                                                                                                   \
        float s0 = sum16(_mm512_add_ps(a0, b0)), s1 = sum16(_mm512_add_ps(a1, b1));                         \
        float s2 = sum16(_mm512_add_ps(a2, b2)), s3 = sum16(_mm512_add_ps(a3, b3));                         \
        for (; i < k; i++) {                                                                                \
            s0 += LOAD1(r0, i) * x[i]; s1 += LOAD1(r1, i) * x[i];                                           \
            s2 += LOAD1(r2, i) * x[i]; s3 += LOAD1(r3, i) * x[i];                                           \
        }                                                                                                   \
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;                                             \
    }                                                                                                       \
    for (; r < row_end; r++) {                                                                              \
        const char *r0 = base + r * row_bytes;                                                              \
        __m512 a0 = _mm512_setzero_ps(), b0 = a0;                                                           \
        size_t i = 0;                                                                                       \
        for (; i + 32 <= k; i += 32) {                                                                      \
            a0 = _mm512_fmadd_ps(LOAD16(r0, i), _mm512_loadu_ps(x + i), a0);                                \
            b0 = _mm512_fmadd_ps(LOAD16(r0, i + 16), _mm512_loadu_ps(x + i + 16), b0);                      \
        }                                                                                                   \
        if (i + 16 <= k) { a0 = _mm512_fmadd_ps(LOAD16(r0, i), _mm512_loadu_ps(x + i), a0); i += 16; }      \
        float s0 = sum16(_mm512_add_ps(a0, b0));                                                            \
        for (; i < k; i++) s0 += LOAD1(r0, i) * x[i];                                                       \
        y[r] = s0;                                                                                          \
    }                                                                                                       \
}

DOT_ROWS_512(dot_rows_f32_avx512, load16_f32, load1_f32, 4)
DOT_ROWS_512(dot_rows_f16_avx512, load16_f16, load1_f16, 2)
DOT_ROWS_512(dot_rows_bf16_avx512, load16_bf16, load1_bf16, 2)

// Sixteen int8 at p as f32.
KERNEL512 static inline __m512 load16_i8(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
KERNEL512 static inline __m512 q8_block_dot16(const uint8_t *block, const float *x) {
    return _mm512_fmadd_ps(load16_i8(block + 18), _mm512_loadu_ps(x + 16), _mm512_mul_ps(load16_i8(block + 2), _mm512_loadu_ps(x)));
}

KERNEL512 static void dot_rows_q8_0_avx512(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    const size_t blocks = k / 32, row_bytes = blocks * Q8_BLOCK_BYTES;
    const uint8_t *base = (const uint8_t *)w;
    const char *fetched = (const char *)base + row_begin * row_bytes + PREFETCH_BYTES;
    size_t r = row_begin;
    for (; r + 4 <= row_end; r += 4) {
        const uint8_t *b0 = base + r * row_bytes, *b1 = b0 + row_bytes, *b2 = b1 + row_bytes, *b3 = b2 + row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t b = 0; b < blocks; b++) {
            const float *xb = x + 32 * b;
            const size_t o = b * Q8_BLOCK_BYTES;
            prefetch_until(&fetched, (const char *)b0 + PREFETCH_BYTES + 4 * (o + Q8_BLOCK_BYTES));
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q8_scale(b0 + o)), q8_block_dot16(b0 + o, xb), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(q8_scale(b1 + o)), q8_block_dot16(b1 + o, xb), a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(q8_scale(b2 + o)), q8_block_dot16(b2 + o, xb), a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(q8_scale(b3 + o)), q8_block_dot16(b3 + o, xb), a3);
        }
        y[r] = sum16(a0); y[r + 1] = sum16(a1); y[r + 2] = sum16(a2); y[r + 3] = sum16(a3);
    }
    for (; r < row_end; r++) {
        const uint8_t *b0 = base + r * row_bytes;
        __m512 a0 = _mm512_setzero_ps();
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *p = b0 + b * Q8_BLOCK_BYTES;
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q8_scale(p)), q8_block_dot16(p, x + 32 * b), a0);
        }
        y[r] = sum16(a0);
    }
}

// The public row kernels: sixteen lanes wide where wide_rows() says so, else eight.
void qkv_dot_rows_f32(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    if (wide_rows()) dot_rows_f32_avx512(w, row_bytes, x, y, row_begin, row_end, k);
    else dot_rows_f32_avx2(w, row_bytes, x, y, row_begin, row_end, k);
}
void qkv_dot_rows_f16(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    if (wide_rows()) dot_rows_f16_avx512(w, row_bytes, x, y, row_begin, row_end, k);
    else dot_rows_f16_avx2(w, row_bytes, x, y, row_begin, row_end, k);
}
void qkv_dot_rows_bf16(const void *w, size_t row_bytes, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    if (wide_rows()) dot_rows_bf16_avx512(w, row_bytes, x, y, row_begin, row_end, k);
    else dot_rows_bf16_avx2(w, row_bytes, x, y, row_begin, row_end, k);
}
void qkv_dot_rows_q8_0(const void *w, const float *x, float *y, size_t row_begin, size_t row_end, size_t k) {
    if (wide_rows()) dot_rows_q8_0_avx512(w, x, y, row_begin, row_end, k);
    else dot_rows_q8_0_avx2(w, x, y, row_begin, row_end, k);
}

// y[c] = Σ_i x[i] · W[i, c], sixteen lanes wide, prefetching this share of the columns in the rows two
// groups of four on (as fast as 4 KiB ahead in the same row, which fetched other threads' columns).
#define DOT_COLUMNS_512(NAME, LOAD16, LOAD1, ESIZE)                                                         \
KERNEL512 static void NAME(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, \
                           size_t column_end, size_t k) {                                                   \
    const char *base = (const char *)w;                                                                     \
    for (size_t c = column_begin; c < column_end; c++) y[c] = 0;                                            \
    size_t i = 0;                                                                                           \
    for (; i + 4 <= k; i += 4) {                                                                            \
        const char *r0 = base + i * row_bytes, *r1 = r0 + row_bytes, *r2 = r1 + row_bytes, *r3 = r2 + row_bytes; \
        __m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]);                                  \
        __m512 x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);                              \
        size_t c = column_begin;                                                                            \
        for (; c + 16 <= column_end; c += 16) {                                                             \
            for (size_t p = 0; p < 16 * ESIZE; p += 64) {                                                   \
                size_t ahead = c * ESIZE + p + 8 * row_bytes;                                               \
                _mm_prefetch(r0 + ahead, _MM_HINT_T0); _mm_prefetch(r1 + ahead, _MM_HINT_T0);               \
                _mm_prefetch(r2 + ahead, _MM_HINT_T0); _mm_prefetch(r3 + ahead, _MM_HINT_T0);               \
            }                                                                                               \
            __m512 t = _mm512_fmadd_ps(x1, LOAD16(r1, c), _mm512_mul_ps(x0, LOAD16(r0, c)));               \
            __m512 u = _mm512_fmadd_ps(x3, LOAD16(r3, c), _mm512_mul_ps(x2, LOAD16(r2, c)));               \
            _mm512_storeu_ps(y + c, _mm512_add_ps(_mm512_loadu_ps(y + c), _mm512_add_ps(t, u)));           \
        }                                                                                                   \
        for (; c < column_end; c++)                                                                         \
            y[c] += (x[i] * LOAD1(r0, c) + x[i + 1] * LOAD1(r1, c)) + (x[i + 2] * LOAD1(r2, c) + x[i + 3] * LOAD1(r3, c)); \
    }                                                                                                       \
    for (; i < k; i++) {                                                                                    \
        const char *r0 = base + i * row_bytes;                                                              \
        __m512 x0 = _mm512_set1_ps(x[i]);                                                                   \
        size_t c = column_begin;                                                                            \
        for (; c + 16 <= column_end; c += 16)                                                               \
            _mm512_storeu_ps(y + c, _mm512_fmadd_ps(x0, LOAD16(r0, c), _mm512_loadu_ps(y + c)));           \
        for (; c < column_end; c++) y[c] += x[i] * LOAD1(r0, c);                                            \
    }                                                                                                       \
}

DOT_COLUMNS_512(dot_columns_f32_avx512, load16_f32, load1_f32, 4)
DOT_COLUMNS_512(dot_columns_f16_avx512, load16_f16, load1_f16, 2)
DOT_COLUMNS_512(dot_columns_bf16_avx512, load16_bf16, load1_bf16, 2)

KERNEL512 static void dot_columns_q8_0_avx512(const void *w, size_t n, const float *x, float *y, size_t column_begin,
                                              size_t column_end, size_t k) {
    const size_t row_bytes = n / 32 * Q8_BLOCK_BYTES, first_block = column_begin / 32, blocks = (column_end - column_begin) / 32;
    const uint8_t *base = (const uint8_t *)w;
    for (size_t c = column_begin; c < column_end; c++) y[c] = 0;
    for (size_t i = 0; i < k; i += 2) {
        const int pair = i + 1 < k;
        const uint8_t *p0 = base + i * row_bytes + first_block * Q8_BLOCK_BYTES;
        const uint8_t *p1 = pair ? p0 + row_bytes : p0;
        const float x0 = x[i], x1 = pair ? x[i + 1] : 0;
        float *out = y + column_begin;
        for (size_t b = 0; b < blocks; b++, p0 += Q8_BLOCK_BYTES, p1 += Q8_BLOCK_BYTES, out += 32) {
            _mm_prefetch((const char *)p0 + 8 * row_bytes, _MM_HINT_T0);   // these columns, four pairs of rows on
            _mm_prefetch((const char *)p1 + 8 * row_bytes, _MM_HINT_T0);
            __m512 s0 = _mm512_set1_ps(x0 * q8_scale(p0)), s1 = _mm512_set1_ps(x1 * q8_scale(p1));
            for (int j = 0; j < 32; j += 16) {
                __m512 t = _mm512_fmadd_ps(s1, load16_i8(p1 + 2 + j), _mm512_mul_ps(s0, load16_i8(p0 + 2 + j)));
                _mm512_storeu_ps(out + j, _mm512_add_ps(_mm512_loadu_ps(out + j), t));
            }
        }
    }
}

// Y[t, j] = Σ_i X[t, i] · W[j, i] for a few tokens (a short sentence through a Linear weight), from W
// in place: OpenBLAS's sgemm first packs its share of W into a buffer, and with 34 tokens that copy
// took as long as the products (33 % of batch-1 embedding time, perf). Tiles of four W rows by six
// tokens: 24 sixteen-lane sums, each W load serving six tokens and each X load four rows. k goes in
// slices of GEMM_K_SLICE, so four rows of W and six of X (20 KiB) stay in L1 while every tile of
// tokens passes over them; a slice after the first adds to Y. The next four rows of W are prefetched a
// share before each tile. TOKENS and WROWS are constants after inlining: the loops unroll into
// registers. Each Y element's sum runs in the same order whatever the split of rows or tokens.
#define GEMM_K_SLICE 512

#define GEMM_TILE_512(NAME, LOAD16)                                                                         \
KERNEL512 static inline __attribute__((always_inline)) void NAME(const float *x, size_t ldx, const char *w, \
        size_t row_bytes, size_t i_begin, size_t i_end, float *y, size_t ldy, const int TOKENS, const int WROWS) { \
    __m512 acc[6][4];                                                                                       \
    for (int t = 0; t < 6; t++) for (int a = 0; a < 4; a++) acc[t][a] = _mm512_setzero_ps();              \
    for (size_t i = i_begin; i < i_end; i += 16) {                                                          \
        __m512 wv[4];                                                                                       \
        for (int a = 0; a < WROWS; a++) wv[a] = LOAD16(w + a * row_bytes, i);                               \
        for (int t = 0; t < TOKENS; t++) {                                                                  \
            __m512 xv = _mm512_loadu_ps(x + t * ldx + i);                                                   \
            for (int a = 0; a < WROWS; a++) acc[t][a] = _mm512_fmadd_ps(wv[a], xv, acc[t][a]);            \
        }                                                                                                   \
    }                                                                                                       \
    for (int t = 0; t < TOKENS; t++)                                                                        \
        for (int a = 0; a < WROWS; a++) y[t * ldy + a] = (i_begin ? y[t * ldy + a] : 0) + sum16(acc[t][a]); \
}

#define GEMM_ROWS_512(NAME, TILE)                                                                           \
KERNEL512 static void NAME(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, \
                           float *y, size_t ldy, size_t row_begin, size_t row_end) {                        \
    const char *base = (const char *)w;                                                                     \
    if (m == 0) return;   /* (and no division by zero below) */                                        \
    const size_t steps = ((m + 5) / 6) * ((k + GEMM_K_SLICE - 1) / GEMM_K_SLICE);                           \
    const size_t share = (4 * row_bytes + steps - 1) / steps;   /* of the next four rows, per step */   \
    for (size_t j = row_begin; j < row_end; ) {                                                             \
        const int wrows = row_end - j >= 4 ? 4 : 1;                                                         \
        const char *wj = base + j * row_bytes, *next = wj + wrows * row_bytes, *fetched = next;             \
        size_t step = 0;                                                                                    \
        for (size_t i = 0; i < k; i += GEMM_K_SLICE) {                                                      \
            const size_t end = i + GEMM_K_SLICE < k ? i + GEMM_K_SLICE : k;                                 \
            size_t t = 0;                                                                                   \
            for (; t + 6 <= m; t += 6) {                                                                    \
                prefetch_until(&fetched, next + ++step * share);                                            \
                if (wrows == 4) TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 6, 4); \
                else TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 6, 1);            \
            }                                                                                               \
            if (t == m) continue;                                                                           \
            prefetch_until(&fetched, next + ++step * share);                                                \
            const float *xt = x + t * ldx;                                                                  \
            float *yt = y + t * ldy + j;                                                                    \
            if (wrows == 4) {                                                                               \
                switch (m - t) {                                                                            \
                case 5: TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 5, 4); break;                         \
                case 4: TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 4, 4); break;                         \
                case 3: TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 3, 4); break;                         \
                case 2: TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 2, 4); break;                         \
                default: TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 1, 4); break;                        \
                }                                                                                           \
            } else {                                                                                        \
                for (; t < m; t++, xt += ldx, yt += ldy) TILE(xt, ldx, wj, row_bytes, i, end, yt, ldy, 1, 1); \
            }                                                                                               \
        }                                                                                                   \
        j += wrows;                                                                                         \
    }                                                                                                       \
}

GEMM_TILE_512(gemm_tile_f32, load16_f32)
GEMM_TILE_512(gemm_tile_f16, load16_f16)
GEMM_TILE_512(gemm_tile_bf16, load16_bf16)
GEMM_ROWS_512(gemm_rows_f32_avx512, gemm_tile_f32)
GEMM_ROWS_512(gemm_rows_f16_avx512, gemm_tile_f16)
GEMM_ROWS_512(gemm_rows_bf16_avx512, gemm_tile_bf16)

// The same product with AVX2's sixteen 8-lane registers: tiles of four W rows by two tokens (8 sums,
// 4 W and 1 X register), so each W load serves two tokens from L1 while W is read from memory once per
// product, unpacked (sgemm would copy its share of W first). The few rows of a decode step of several
// sequences (continuous batching) go through here.
#define GEMM_TILE_256(NAME, LOAD8)                                                                          \
KERNEL static inline __attribute__((always_inline)) void NAME(const float *x, size_t ldx, const char *w,   \
        size_t row_bytes, size_t i_begin, size_t i_end, float *y, size_t ldy, const int TOKENS, const int WROWS) { \
    __m256 acc[2][4];                                                                                       \
    for (int t = 0; t < 2; t++) for (int a = 0; a < 4; a++) acc[t][a] = _mm256_setzero_ps();              \
    for (size_t i = i_begin; i < i_end; i += 8) {                                                           \
        __m256 wv[4];                                                                                       \
        for (int a = 0; a < WROWS; a++) wv[a] = LOAD8(w + a * row_bytes, i);                                \
        for (int t = 0; t < TOKENS; t++) {                                                                  \
            __m256 xv = _mm256_loadu_ps(x + t * ldx + i);                                                   \
            for (int a = 0; a < WROWS; a++) acc[t][a] = _mm256_fmadd_ps(wv[a], xv, acc[t][a]);            \
        }                                                                                                   \
    }                                                                                                       \
    for (int t = 0; t < TOKENS; t++)                                                                        \
        for (int a = 0; a < WROWS; a++) y[t * ldy + a] = (i_begin ? y[t * ldy + a] : 0) + sum8(acc[t][a]);  \
}

#define GEMM_ROWS_256(NAME, TILE)                                                                           \
KERNEL static void NAME(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k,   \
                        float *y, size_t ldy, size_t row_begin, size_t row_end) {                           \
    const char *base = (const char *)w;                                                                     \
    if (m == 0) return;   /* (and no division by zero below) */                                        \
    const size_t steps = ((m + 1) / 2) * ((k + GEMM_K_SLICE - 1) / GEMM_K_SLICE);                           \
    const size_t share = (4 * row_bytes + steps - 1) / steps;   /* of the next four rows, per step */   \
    for (size_t j = row_begin; j < row_end; ) {                                                             \
        const int wrows = row_end - j >= 4 ? 4 : 1;                                                         \
        const char *wj = base + j * row_bytes, *next = wj + wrows * row_bytes, *fetched = next;             \
        size_t step = 0;                                                                                    \
        for (size_t i = 0; i < k; i += GEMM_K_SLICE) {                                                      \
            const size_t end = i + GEMM_K_SLICE < k ? i + GEMM_K_SLICE : k;                                 \
            size_t t = 0;                                                                                   \
            for (; t + 2 <= m; t += 2) {                                                                    \
                prefetch_until(&fetched, next + ++step * share);                                            \
                if (wrows == 4) TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 2, 4); \
                else TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 2, 1);            \
            }                                                                                               \
            if (t == m) continue;                                                                           \
            prefetch_until(&fetched, next + ++step * share);                                                \
            if (wrows == 4) TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 1, 4);     \
            else TILE(x + t * ldx, ldx, wj, row_bytes, i, end, y + t * ldy + j, ldy, 1, 1);                \
        }                                                                                                   \
        j += wrows;                                                                                         \
    }                                                                                                       \
}

GEMM_TILE_256(gemm_tile8_f32, load8_f32)
GEMM_TILE_256(gemm_tile8_f16, load8_f16)
GEMM_TILE_256(gemm_tile8_bf16, load8_bf16)
GEMM_ROWS_256(gemm_rows_f32_avx2, gemm_tile8_f32)
GEMM_ROWS_256(gemm_rows_f16_avx2, gemm_tile8_f16)
GEMM_ROWS_256(gemm_rows_bf16_avx2, gemm_tile8_bf16)

// The public many-token kernels: the widest the processor has (k a multiple of 16, as both need).
int qkv_gemm_rows_q8_0(const float *x, size_t ldx, size_t m, const void *w, size_t k, float *y, size_t ldy,
                       size_t row_begin, size_t row_end) {
    if (current_level() < 1 || wide_rows() || m > 8 || k % 32 != 0) return 0;   // the wide one-token kernel sums in another order
    gemm_rows_q8_0_avx2(x, ldx, m, w, k, y, ldy, row_begin, row_end);
    return 1;
}

int qkv_gemm_rows_f32(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                      size_t ldy, size_t row_begin, size_t row_end) {
    if (current_level() < 1 || k == 0 || k % 16 != 0) return 0;
    if (current_level() == 2) gemm_rows_f32_avx512(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    else gemm_rows_f32_avx2(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    return 1;
}
int qkv_gemm_rows_f16(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                      size_t ldy, size_t row_begin, size_t row_end) {
    if (current_level() < 1 || k == 0 || k % 16 != 0) return 0;
    if (current_level() == 2) gemm_rows_f16_avx512(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    else gemm_rows_f16_avx2(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    return 1;
}
int qkv_gemm_rows_bf16(const float *x, size_t ldx, size_t m, const void *w, size_t row_bytes, size_t k, float *y,
                       size_t ldy, size_t row_begin, size_t row_end) {
    if (current_level() < 1 || k == 0 || k % 16 != 0) return 0;
    if (current_level() == 2) gemm_rows_bf16_avx512(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    else gemm_rows_bf16_avx2(x, ldx, m, w, row_bytes, k, y, ldy, row_begin, row_end);
    return 1;
}

// The public column kernels: the widest the processor has.
void qkv_dot_columns_f32(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k) {
    if (current_level() == 2) dot_columns_f32_avx512(w, row_bytes, x, y, column_begin, column_end, k);
    else dot_columns_f32_avx2(w, row_bytes, x, y, column_begin, column_end, k);
}
void qkv_dot_columns_f16(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k) {
    if (current_level() == 2) dot_columns_f16_avx512(w, row_bytes, x, y, column_begin, column_end, k);
    else dot_columns_f16_avx2(w, row_bytes, x, y, column_begin, column_end, k);
}
void qkv_dot_columns_bf16(const void *w, size_t row_bytes, const float *x, float *y, size_t column_begin, size_t column_end, size_t k) {
    if (current_level() == 2) dot_columns_bf16_avx512(w, row_bytes, x, y, column_begin, column_end, k);
    else dot_columns_bf16_avx2(w, row_bytes, x, y, column_begin, column_end, k);
}
void qkv_dot_columns_q8_0(const void *w, size_t n, const float *x, float *y, size_t column_begin, size_t column_end, size_t k) {
    if (current_level() == 2) dot_columns_q8_0_avx512(w, n, x, y, column_begin, column_end, k);
    else dot_columns_q8_0_avx2(w, n, x, y, column_begin, column_end, k);
}

#else
// Not x86: the Swift kernels run instead.
int qkv_kernels_detected(void) { return 0; }
int qkv_kernels_supported(void) { return 0; }
int qkv_kernels_vnni(void) { return 0; }
int qkv_kernels_level(void) { return 0; }
int qkv_kernels_limit(int max_level) { return 0; }
int qkv_kernels_wide_rows(void) { return 0; }
void qkv_kernels_prefer_wide_rows(int choice) {}
void qkv_dot_rows_f32(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_rows_f16(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_rows_bf16(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_rows_q8_0(const void *w, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_columns_f32(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_columns_f16(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_columns_bf16(const void *w, size_t rb, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_dot_columns_q8_0(const void *w, size_t n, const float *x, float *y, size_t a, size_t b, size_t k) {}
void qkv_widen_f16(const void *src, float *out, size_t count) {}
void qkv_attention_scores(const float *q, const float *keys, size_t positions, size_t d, float scale, float *scores) {}
void qkv_attention_mix(const float *p, const float *values, size_t ldv, size_t positions, size_t d, float scale, float *z) {}
void qkv_attention_scores_transposed(const float *q, const float *keys_t, size_t width, size_t d, float scale, float *scores) {}
int qkv_gemm_rows_f32(const float *x, size_t ldx, size_t m, const void *w, size_t rb, size_t k, float *y, size_t ldy, size_t a, size_t b) { return 0; }
int qkv_gemm_rows_q8_0(const float *x, size_t ldx, size_t m, const void *w, size_t k, float *y, size_t ldy, size_t a, size_t b) { return 0; }
int qkv_gemm_rows_f16(const float *x, size_t ldx, size_t m, const void *w, size_t rb, size_t k, float *y, size_t ldy, size_t a, size_t b) { return 0; }
int qkv_gemm_rows_bf16(const float *x, size_t ldx, size_t m, const void *w, size_t rb, size_t k, float *y, size_t ldy, size_t a, size_t b) { return 0; }
void qkv_widen_bf16(const void *src, float *out, size_t count) {}
void qkv_widen_q8_0(const void *src, float *out, size_t blocks) {}
#endif
