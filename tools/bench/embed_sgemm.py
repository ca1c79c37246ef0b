#!/usr/bin/env python3
"""The ceiling of the embedding benchmark: how fast the OpenBLAS that qkv links (Debian's
libopenblas.so.0, with the AVX-512 kernels qkv relaunches onto) runs sgemm at the shapes of
all-MiniLM-L6-v2's forward pass, at 1 and 2 threads. Called through ctypes, so it is the same library
and the same kernels; numpy only holds the buffers. C [m, n] = A [m, k] · Wᵀ, W stored [n, k] (a Linear
layer, as qkv calls it), best of many calls. qkv's own threads each run 1-thread products, so its
ceiling is twice the 1-thread rate at each thread's shape. Usage: embed_sgemm.py [TOKENS_BATCH32 [TOKENS_BATCH1]]."""

import ctypes
import os
import sys
import time

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
import numpy as np  # noqa: E402

blas = ctypes.CDLL("libopenblas.so.0")
blas.openblas_get_corename.restype = ctypes.c_char_p
RowMajor, NoTrans, Trans = 101, 111, 112
F = ctypes.POINTER(ctypes.c_float)


def sgemm(a, w, c, m, n, k):
    blas.cblas_sgemm(RowMajor, NoTrans, Trans, m, n, k, ctypes.c_float(1), a.ctypes.data_as(F), k,
                     w.ctypes.data_as(F), k, ctypes.c_float(0), c.ctypes.data_as(F), n)


def best_seconds(fn, min_time=0.3):
    fn()
    runs, start, best = 0, time.perf_counter(), float("inf")
    while time.perf_counter() - start < min_time or runs < 5:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


def rate(m, n, k, threads):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    blas.openblas_set_num_threads(threads)
    return 2.0 * m * n * k / best_seconds(lambda: sgemm(a, w, c, m, n, k)) / 1e9


def main():
    tokens32 = int(sys.argv[1]) if len(sys.argv) > 1 else 1078
    tokens1 = int(sys.argv[2]) if len(sys.argv) > 2 else 34
    print("OpenBLAS core:", blas.openblas_get_corename().decode())
    print("| shape m x n x k | 1 thread GFLOP/s | 2 threads GFLOP/s |")
    print("|---|---|---|")
    shapes = [(2048, 2048, 2048)]
    for m in (tokens32, tokens32 // 2, tokens1):
        shapes += [(m, 384, 384), (m, 1536, 384), (m, 384, 1536)]
    # Batch 1 halved either way: half the rows, or half the output columns.
    h = tokens1 // 2
    shapes += [(h, 384, 384), (h, 1536, 384), (h, 384, 1536), (tokens1, 192, 384), (tokens1, 768, 384), (tokens1, 192, 1536)]
    for m, n, k in shapes:
        print("| %d x %d x %d | %.1f | %.1f |" % (m, n, k, rate(m, n, k, 1), rate(m, n, k, 2)))


if __name__ == "__main__":
    main()
