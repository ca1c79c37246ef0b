// OpenBLAS (Debian's libopenblas-dev, pthread build): cblas_sgemm for every matrix product, and
// openblas_set_num_threads, which qkv calls once so BLAS threads are the only threads doing math.
#include <cblas.h>
