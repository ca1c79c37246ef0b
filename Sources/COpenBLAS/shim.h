// OpenBLAS (Debian's libopenblas-dev, pthread build): cblas_sgemm for every matrix product, and
// openblas_set_num_threads, which the qkv command sets to 1 (Sources/qkv/BLASThreads.swift): its own threads
// call every product; the library only reads openblas_get_num_threads (ComputeThreads.swift).
#include <cblas.h>
