import COpenBLAS
import CQKVKernels
import Foundation

/// Debian 12's OpenBLAS (0.3.21) does not recognise some newer x86 processors (Sapphire Rapids, this
/// project's machines) and falls back to its SSE3 "Prescott" kernels, which run matrix products 2 to 3
/// times slower than the AVX-512 ones the processor can run. OpenBLAS picks its kernels when it is
/// loaded, before any Swift code, from `OPENBLAS_CORETYPE`; so when that is unset, the fallback was
/// chosen, and the processor has AVX-512 (or AVX2 and FMA), this sets the matching core type and has
/// OpenBLAS choose again in this process (`qkv_openblas_reselect_kernels`); where that hook is missing
/// or does not take, it re-runs the process once with the variable set (17 ms more to the first
/// embedding). A user's own `OPENBLAS_CORETYPE` always wins.
///
/// Call it first thing in a command that computes, before any BLAS call. It changes the process (its
/// environment, and possibly `execv`), so it belongs to the command, never to the library.
func relaunchWithFastBLASKernelsIfNeeded() {
    guard getenv("OPENBLAS_CORETYPE") == nil, getenv("QKV_BLAS_RELAUNCHED") == nil,
          let name = openblas_get_corename(), String(cString: name).lowercased() == "prescott",
          let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagLine.split(separator: " ").map(String.init))
    let core: String
    if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) {
        core = "SkylakeX"
    } else if flags.isSuperset(of: ["avx2", "fma"]) {
        core = "Haswell"
    } else {
        return
    }
    setenv("OPENBLAS_CORETYPE", core, 1)
    if qkv_openblas_reselect_kernels() != 0, blasCoreName.lowercased() == core.lowercased() { return }
    setenv("QKV_BLAS_RELAUNCHED", "1", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with the slow kernels.
}

/// The OpenBLAS kernel set in use (e.g. "SkylakeX"), for reports.
var blasCoreName: String {
    openblas_get_corename().map { String(cString: $0) } ?? "unknown"
}
