// The 8-bit-activation row kernels built with AVX-512 VNNI's integer dot products (vpdpbusd, vpdpwssd),
// which qkv_blocks_q8.c chooses at the AVX-512 level where the CPU has them (qkv_blocks_q8.h).
#include "qkv_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define QKV_Q8_VNNI 1
#include "qkv_blocks_q8.h"
#endif
