// CRC-32, the checksum `.qkv` stores for its header and every tensor (Specs/qkv-format.md), by carry-less
// multiplication (PCLMULQDQ) where the processor has it.
//
// Why C: Swift compiles for baseline x86-64 (SSE2) here, with no per-function target attribute, so it
// cannot reach PCLMULQDQ; zlib's table-driven crc32 ran at about 1 GB/s and took 22% of a MiniLM
// conversion, this runs at memory speed (qkv_crc32.c). A target of its own, apart from the compute
// kernels (CQKVKernels), because the format library needs it and nothing else of theirs.
#ifndef QKV_CRC32_H
#define QKV_CRC32_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32 as zlib's crc32(crc, data, length) computes it (ISO-HDLC), with PCLMULQDQ where the processor
/// has it (qkv_crc32.c). Start with 0; feed pieces in order.
uint32_t qkv_crc32(uint32_t crc, const void *data, size_t length);

#endif
