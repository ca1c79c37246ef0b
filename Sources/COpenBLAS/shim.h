// OpenBLAS (Debian's libopenblas-dev, pthread build): cblas_sgemm for every matrix product, and
// openblas_set_num_threads, which qkv sets to 1: its own threads call every product (ComputeThreads.swift).
#include <cblas.h>
