// Re-running OpenBLAS's kernel selection in this process, so qkv need not re-exec itself to get the
// right kernels (BLASKernelChoice.swift says why it wants other kernels). OpenBLAS's DYNAMIC_ARCH build
// (Debian's) picks its kernel table at load, in gotoblas_dynamic_init, reading OPENBLAS_CORETYPE;
// gotoblas_dynamic_quit forgets the choice. Both are exported but not public API, so they are weak
// references: a build without them gets 0 here and qkv falls back to re-executing itself.
#include "qkv_kernels.h"

extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

int qkv_openblas_reselect_kernels(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
}

// Stopping OpenBLAS's thread pool (Sources/qkv/BLASThreads.swift says why; only the command calls it).
// blas_thread_shutdown_ is what OpenBLAS itself calls before a fork; the pool starts again by itself
// when a threaded product or a new thread count needs it. Exported but not public API, hence weak:
// without it this returns 0 and the pool keeps running (its threads then only spin after they start
// and after threaded products).
extern int blas_thread_shutdown_(void) __attribute__((weak));

int qkv_openblas_stop_threads(void) {
    if (!blas_thread_shutdown_) return 0;
    blas_thread_shutdown_();
    return 1;
}

// Whether OpenBLAS's pool is running (its blas_server_avail; tests check the stop with it): 1 or 0, or
// -1 when this OpenBLAS does not export it.
extern int blas_server_avail __attribute__((weak));

int qkv_openblas_threads_running(void) {
    if (!&blas_server_avail) return -1;
    return blas_server_avail != 0;
}
