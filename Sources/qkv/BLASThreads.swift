import COpenBLAS
import CQKVKernels

/// Makes OpenBLAS run every product on the thread that calls it, for the rest of the process, and stops
/// its thread pool: `qkv` calls it first thing for every command, `serve` included. Each of qkv's
/// compute threads (a `ComputeContext`'s team) runs its own products, so OpenBLAS threads inside them
/// would oversubscribe the cores. The pool's threads, started when the library loads, spin on
/// `sched_yield` for about 0.1 s after they start (and after each threaded product) before they sleep:
/// on two cores that spin took a core from qkv's own threads for the first 0.1 s of every command, a
/// third of a 256-token prompt (perf, llama-134m), and 30 % of the samples of `qkv convert`, which has
/// no products at all. The pool would start again only for a threaded product, which no longer comes.
///
/// It changes the process (OpenBLAS is one per process), so it belongs to the command, never to the
/// library: a library host that leaves OpenBLAS threaded still gets right results, computed as
/// `ComputeContext` describes. Setting the thread count comes first: OpenBLAS restarts a stopped pool on
/// every count it is given.
func runBLASOnCallingThreads() {
    openblas_set_num_threads(1)
    _ = qkv_openblas_stop_threads()
}
