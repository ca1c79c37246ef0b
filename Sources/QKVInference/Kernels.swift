import COpenBLAS
import Foundation

// The kernels of the forward passes: small free functions over row-major f32 buffers, each with the
// shapes it takes in a comment. Matrix products go to OpenBLAS; the rest are simple loops.
// Pointers: callers own every buffer and guarantee the sizes in the shape comments.

/// C [m, n] = A [m, k] · Bᵀ, with B stored [n, k] (PyTorch's Linear weight layout), plus `beta`·C.
/// `lda`, `ldb`, `ldc` allow views into wider rows (one head's columns of a [tokens, H·d] matrix).
@inline(__always)
func matmulTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                      m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, beta: Float = 0) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
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

/// Exact GELU in place: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's; not the tanh approximation).
func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let invSqrt2: Float = 0.70710678118654752440
    for i in 0..<count { x[i] = 0.5 * x[i] * (1 + erff(x[i] * invSqrt2)) }
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
