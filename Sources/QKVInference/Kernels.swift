import COpenBLAS
import Foundation

// The kernels of the forward passes: small free functions over row-major f32 buffers, each with the
// shapes it takes in a comment. Matrix products go to OpenBLAS; the rest are simple loops.
// Pointers: callers own every buffer and guarantee the sizes in the shape comments.

/// C [m, n] = A [m, k] · Bᵀ, with B stored [n, k] (PyTorch's Linear weight layout), plus `beta`·C.
/// `lda`, `ldb`, `ldc` allow views into wider rows (one head's columns of a [tokens, H·d] matrix).
@inline(__always)
func matmulTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                      m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, alpha: Float = 1, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda ?? k), b, Int32(ldb ?? k), beta, c, Int32(ldc ?? n))
}

/// C [m, n] = A [m, k] · B [k, n], plus `beta`·C.
@inline(__always)
func matmul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
            m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                a, Int32(lda ?? k), b, Int32(ldb ?? n), beta, c, Int32(ldc ?? n))
}

/// x [rows, n] += bias [n], row by row.
func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        for i in 0..<n { row[i] += bias[i] }
    }
}

/// x [rows, n] += y [rows, n].
func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { x[i] += y[i] }
}

/// LayerNorm of each row of x [rows, n] in place: (x - mean) / sqrt(var + eps) · weight + bias,
/// mean and variance over the row (biased variance, as PyTorch).
func layerNorm(_ x: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
               rows: Int, n: Int, epsilon: Float) {
    for r in 0..<rows {
        let row = x + r * n
        var mean: Float = 0
        for i in 0..<n { mean += row[i] }
        mean /= Float(n)
        var variance: Float = 0
        for i in 0..<n { let d = row[i] - mean; variance += d * d }
        variance /= Float(n)
        let scale = 1 / (variance + epsilon).squareRoot()
        for i in 0..<n { row[i] = (row[i] - mean) * scale * weight[i] + bias[i] }
    }
}

/// Exact GELU in place: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's; not the tanh approximation,
/// which differs by up to 4.7e-4). Eight lanes at a time through `erf8`.
func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let invSqrt2 = SIMD8<Float>(repeating: 0.70710678118654752440)
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let y = 0.5 * v * (1 + erf8(v * invSqrt2))
        UnsafeMutableRawPointer(x + i).storeBytes(of: y, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.70710678118654752440))
        i += 1
    }
}

/// erf of eight floats: the odd/even rational minimax approximation on [-4, 4] that Eigen and XLA use
/// for float (erf is ±1 to float precision beyond), within 3e-7 of glibc's erff (a test checks it).
@inline(__always)
func erf8(_ input: SIMD8<Float>) -> SIMD8<Float> {
    let x = input.clamped(lowerBound: SIMD8(repeating: -4), upperBound: SIMD8(repeating: 4))
    let x2 = x * x
    var p = SIMD8<Float>(repeating: -2.72614225801306e-10)
    p = p * x2 + 2.77068142495902e-08
    p = p * x2 - 2.10102402082508e-06
    p = p * x2 - 5.69250639462346e-05
    p = p * x2 - 7.34990630326855e-04
    p = p * x2 - 2.95459980854025e-03
    p = p * x2 - 1.60960333262415e-02
    p = p * x
    var q = SIMD8<Float>(repeating: -1.45660718464996e-05)
    q = q * x2 - 2.13374055278905e-04
    q = q * x2 - 1.68282697438203e-03
    q = q * x2 - 7.37332916720468e-03
    q = q * x2 - 1.42647390514189e-02
    return p / q
}

/// Softmax of each row of x [rows, n] in place, max-subtracted for stability.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        var maxValue = -Float.infinity
        for i in 0..<n { maxValue = max(maxValue, row[i]) }
        var sum: Float = 0
        for i in 0..<n { row[i] = expf(row[i] - maxValue); sum += row[i] }
        let inv = 1 / sum
        for i in 0..<n { row[i] *= inv }
    }
}

/// x [n] / max(‖x‖₂, eps), in place (PyTorch's F.normalize).
func l2Normalize(_ x: UnsafeMutablePointer<Float>, n: Int, epsilon: Float = 1e-12) {
    var sum: Float = 0
    for i in 0..<n { sum += x[i] * x[i] }
    let scale = 1 / max(sum.squareRoot(), epsilon)
    for i in 0..<n { x[i] *= scale }
}

/// The number of threads BLAS may use; set once, before any product.
public func setComputeThreads(_ count: Int) {
    openblas_set_num_threads(Int32(max(1, count)))
}
