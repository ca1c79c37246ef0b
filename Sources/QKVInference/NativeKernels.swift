import CQKVKernels
import Foundation
import QKVFormat

/// Which kernels run the matrix-vector products of decoding from f16, bf16 and q8_0 weights: C with
/// AVX-512 or AVX2 (Sources/CQKVKernels), or the Swift kernels (MatrixVectorKernels.swift).
///
/// Swift compiles for baseline x86-64 here and cannot use F16C or wide FMA, which decide the speed of
/// f16, bf16 and q8_0 decoding (Specs/benchmarks.md has the measurement that justifies the C target).
/// The widest level the processor has is used, unless QKV_KERNELS says `swift`, `avx2` or `avx512`
/// (at most that level: for measuring one against another, and for machines where the check is wrong).
/// At the AVX-512 level the one-token row kernels of f32, f16, bf16 and q8_0 run sixteen lanes wide on
/// Intel's processors and eight on AMD's, where they measured faster so (`wideRows`); an explicit
/// `QKV_KERNELS=avx512` runs them sixteen wide everywhere.
public enum NativeKernels {
    /// The level in use in this process: chosen the first time it is read (at the latter when the first
    /// `ComputeContext` is made) and never changed by library code after that.
    public static let level: Level = {
        let named = ProcessInfo.processInfo.environment["QKV_KERNELS"].flatMap(Level.init(rawValue:))
        if named == .avx512 { qkv_kernels_prefer_wide_rows(1) }
        return Level(index: Int(qkv_kernels_limit(CInt((named ?? .avx512).index))))
    }()

    /// True when the C kernels are in use.
    public static var enabled: Bool { level != .swift }

    /// True when a prompt's products through block-quantized weights take 8-bit activations under
    /// `ActivationPrecision.q8`, as one-token products do: at the AVX-512 level on a CPU with VNNI, whose
    /// integer dot products make them faster than sgemm on widened weights; elsewhere prompts keep f32.
    public static var eightBitPrompts: Bool { level == .avx512 && qkv_kernels_vnni() != 0 }

    /// True when a prompt's products through bf16 (or f32) weights take bf16 activations under
    /// `ActivationPrecision.bf16`: at the AVX-512 level on a CPU with AVX512_BF16 (qkv_gemm_panels_bf16),
    /// whose dot products do twice the multiply-adds of an f32 FMA; elsewhere they keep f32.
    public static var bf16Prompts: Bool { level == .avx512 && qkv_kernels_bf16() != 0 }

    /// True when the one-token row kernels run sixteen lanes wide (AVX-512 on a processor that runs them
    /// faster so, or `QKV_KERNELS=avx512`).
    public static var wideRows: Bool { _ = level; return qkv_kernels_wide_rows() != 0 }

    public enum Level: String, Sendable {
        case swift, avx2, avx512
        var index: Int { self == .swift ? 0 : self == .avx2 ? 1 : 2 }
        init(index: Int) { self = index >= 2 ? .avx512 : index == 1 ? .avx2 : .swift }
    }
}

/// What the products of reduced-precision weights multiply. `f32`: the activations as they are (exact: a
/// quantized or bf16 file computes what its f32 widening computes). The others trade exactness for speed
/// as llama.cpp does (Specs/quantization.md):
/// - `q8`: block-quantized weights' one-token products, and a prompt's where
///   `NativeKernels.eightBitPrompts` (AVX-512 VNNI), take x quantized to 8-bit blocks and integer dot
///   products; the rows of a batched decode step are one-token products.
/// - `bf16`: the products of many tokens (a prompt, an encoder's batch) through bf16 weights, and through
///   f32 weights rounded to bf16 as well, take x rounded to bf16 and AVX512_BF16's dot products where
///   `NativeKernels.bf16Prompts`; decode steps, bound by reading the weights, keep f32.
///
/// Other weights always take f32 activations.
public enum ActivationPrecision: String, Sendable, CaseIterable {
    case f32, q8, bf16
}

// y [r] = W [r, :] · x for r in `rows` (W [*, k] rows `rowBytes` apart, in `dtype`; not f32).
@inline(__always)
func nativeDotRows(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                   rows: Range<Int>, k: Int) {
    switch dtype {
    case .f16: qkv_dot_rows_f16(w, rowBytes, x, y, rows.lowerBound, rows.upperBound, k)
    case .bf16: qkv_dot_rows_bf16(w, rowBytes, x, y, rows.lowerBound, rows.upperBound, k)
    case .q8_0: qkv_dot_rows_q8_0(w, x, y, rows.lowerBound, rows.upperBound, k)
    default: qkv_dot_rows_f32(w, rowBytes, x, y, rows.lowerBound, rows.upperBound, k)
    }
}

// y [c] = Σ_i x [i] · W [i, c] for c in `columns` (W [k, n] rows `rowBytes` apart; q8_0: bounds multiples of 32).
@inline(__always)
func nativeDotColumns(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      columns: Range<Int>, k: Int) {
    switch dtype {
    case .f16: qkv_dot_columns_f16(w, rowBytes, x, y, columns.lowerBound, columns.upperBound, k)
    case .bf16: qkv_dot_columns_bf16(w, rowBytes, x, y, columns.lowerBound, columns.upperBound, k)
    case .q8_0: qkv_dot_columns_q8_0(w, n, x, y, columns.lowerBound, columns.upperBound, k)
    default: qkv_dot_columns_f32(w, rowBytes, x, y, columns.lowerBound, columns.upperBound, k)
    }
}

// Y [m, r] = X [m, k] · W [r, :]ᵀ for r in `rows`, from W in place (W [*, k] rows `rowBytes` apart, f32, f16,
// bf16 or a block type; X's rows `ldx` apart, Y's `ldy`). A block type's rows are each token's one-token
// product, bit for bit (qkv_gemm_rows_blocks, qkv_gemm_rows_q8_0). False when these kernels cannot (no
// AVX2, k not a multiple of 16, q8_0 with sixteen-lane row kernels): the caller then uses sgemm.
@inline(__always)
func nativeMultiplyRows(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, k: Int, _ x: UnsafePointer<Float>, ldx: Int, m: Int,
                        _ y: UnsafeMutablePointer<Float>, ldy: Int, rows: Range<Int>) -> Bool {
    switch dtype {
    case .f32: qkv_gemm_rows_f32(x, ldx, m, w, rowBytes, k, y, ldy, rows.lowerBound, rows.upperBound) != 0
    case .f16: qkv_gemm_rows_f16(x, ldx, m, w, rowBytes, k, y, ldy, rows.lowerBound, rows.upperBound) != 0
    case .bf16: qkv_gemm_rows_bf16(x, ldx, m, w, rowBytes, k, y, ldy, rows.lowerBound, rows.upperBound) != 0
    case .q8_0: qkv_gemm_rows_q8_0(x, ldx, m, w, k, y, ldy, rows.lowerBound, rows.upperBound) != 0
    case let blocked where blocked.isBlockQuantized:
        qkv_gemm_rows_blocks(CInt(blocked.rawValue), x, ldx, m, w, rowBytes, k, y, ldy, rows.lowerBound, rows.upperBound) != 0
    default: false
    }
}

extension NativeKernels {
    /// The C kernels' levels this processor can run (none, [avx2], or [avx2, avx512]).
    static var availableLevels: [Level] {
        let detected = Int(qkv_kernels_detected())
        return [Level.avx2, .avx512].filter { $0.index <= detected }
    }

    /// Runs `body` with the C kernels at `level`, then returns to this process's level. For tests
    /// comparing the levels only (no other kernel may run meanwhile); library code never calls it.
    /// At `.avx512` the row kernels run sixteen lanes wide whatever the vendor, so that tests cover them.
    static func atLevel(_ level: Level, _ body: () -> Void) {
        // The process's level first: chosen on first read, it would otherwise reset the level inside `body`.
        let processLevel = Self.level, processWide = qkv_kernels_wide_rows()
        _ = qkv_kernels_limit(CInt(level.index))
        if level == .avx512 { qkv_kernels_prefer_wide_rows(1) }
        body()
        _ = qkv_kernels_limit(CInt(processLevel.index))
        qkv_kernels_prefer_wide_rows(processLevel == .avx512 ? processWide : -1)
    }
}
