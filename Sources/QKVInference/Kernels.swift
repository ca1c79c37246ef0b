import COpenBLAS
import CQKVKernels
import Foundation

// The kernels of the forward passes: small free functions over row-major f32 buffers, each with the
// shapes it takes in a comment. Matrix products go to OpenBLAS (on how many threads: ComputeThreads.swift);
// the rest are loops over eight floats at a time (SIMD8) with a scalar tail.
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
    addBias(x, ld: n, bias, rows: rows, columns: 0..<n)
}

/// x [rows, columns] += bias [columns]: a block of columns of a matrix whose rows are `ld` apart.
func addBias(_ x: UnsafeMutablePointer<Float>, ld: Int, _ bias: UnsafePointer<Float>, rows: Int, columns: Range<Int>) {
    for r in 0..<rows {
        let row = x + r * ld
        var i = columns.lowerBound
        while i + 8 <= columns.upperBound { store8(load8(row + i) + load8(bias + i), row + i); i += 8 }
        while i < columns.upperBound { row[i] += bias[i]; i += 1 }
    }
}

/// x [rows, n] += y [rows, n].
func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count { store8(load8(x + i) + load8(y + i), x + i); i += 8 }
    while i < count { x[i] += y[i]; i += 1 }
}

/// LayerNorm of each row of x [rows, n] in place: (x - mean) / sqrt(var + eps) · weight + bias,
/// mean and variance over the row (biased variance, as PyTorch).
func layerNorm(_ x: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
               rows: Int, n: Int, epsilon: Float) {
    for r in 0..<rows { layerNormRow(x + r * n, weight: weight, bias: bias, n: n, epsilon: epsilon) }
}

/// The residual step of a post-norm block, fused: x [rows, n] = LayerNorm(x + y + bias) with y [rows, n],
/// bias [n] (the sublayer's output before its bias).
func addBiasResidualLayerNorm(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                              weight: UnsafePointer<Float>, normBias: UnsafePointer<Float>, rows: Int, n: Int, epsilon: Float) {
    for r in 0..<rows {
        let row = x + r * n, update = y + r * n
        var i = 0
        while i + 8 <= n { store8(load8(row + i) + load8(update + i) + load8(bias + i), row + i); i += 8 }
        while i < n { row[i] += update[i] + bias[i]; i += 1 }
        layerNormRow(row, weight: weight, bias: normBias, n: n, epsilon: epsilon)
    }
}

/// LayerNorm of one row x [n] in place, two passes (mean, then variance about it) as PyTorch.
@inline(__always)
func layerNormRow(_ row: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  n: Int, epsilon: Float) {
    var sum8 = SIMD8<Float>(), i = 0
    while i + 8 <= n { sum8 += load8(row + i); i += 8 }
    var sum = sum8.sum()
    while i < n { sum += row[i]; i += 1 }
    let mean = sum / Float(n)
    var square8 = SIMD8<Float>()
    i = 0
    while i + 8 <= n { let d = load8(row + i) - mean; square8 += d * d; i += 8 }
    var square = square8.sum()
    while i < n { let d = row[i] - mean; square += d * d; i += 1 }
    let scale = 1 / (square / Float(n) + epsilon).squareRoot()
    i = 0
    while i + 8 <= n { store8((load8(row + i) - mean) * scale * load8(weight + i) + load8(bias + i), row + i); i += 8 }
    while i < n { row[i] = (row[i] - mean) * scale * weight[i] + bias[i]; i += 1 }
}

/// x [rows, columns] = GELU(x + bias [columns]): the MLP's bias and exact GELU fused, on a block of
/// columns of a matrix whose rows are `ld` apart.
func addBiasGELU(_ x: UnsafeMutablePointer<Float>, ld: Int, _ bias: UnsafePointer<Float>, rows: Int, columns: Range<Int>) {
    let invSqrt2: Float = 0.70710678118654752440
    for r in 0..<rows {
        let row = x + r * ld
        var i = columns.lowerBound
        while i + 8 <= columns.upperBound {
            let v = load8(row + i) + load8(bias + i)
            store8(0.5 * v * (1 + erf8(v * invSqrt2)), row + i)
            i += 8
        }
        while i < columns.upperBound {
            let v = row[i] + bias[i]
            row[i] = 0.5 * v * (1 + erff(v * invSqrt2))
            i += 1
        }
    }
}

/// Exact GELU in place: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (BERT's; not the tanh approximation,
/// which differs by up to 4.7e-4). Eight lanes at a time through `erf8`.
func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let invSqrt2 = SIMD8<Float>(repeating: 0.70710678118654752440)
    var i = 0
    while i + 8 <= count {
        let v = load8(x + i)
        store8(0.5 * v * (1 + erf8(v * invSqrt2)), x + i)
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
    let x = clamp8(input, -4, 4)
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
        var sum8 = SIMD8<Float>(), i = 0
        while i + 8 <= n { let e = exp8(load8(row + i) - maxValue); store8(e, row + i); sum8 += e; i += 8 }
        var sum = sum8.sum()
        while i < n { row[i] = expf(row[i] - maxValue); sum += row[i]; i += 1 }
        let inv = 1 / sum
        i = 0
        while i + 8 <= n { store8(load8(row + i) * inv, row + i); i += 8 }
        while i < n { row[i] *= inv; i += 1 }
    }
}

/// e^x of eight floats: x = n·ln 2 + r with |r| <= ln 2 / 2, e^r by Cephes' expf polynomial, 2^n built
/// in the exponent bits; within 2 ulp of glibc's expf (a test checks it). Inputs below -87.3 give
/// about 1e-38 rather than 0 (callers subtract a row's maximum first, so only those far below it do).
@inline(__always)
func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
    let x = clamp8(input, -87.3, 88.3)
    // Adding 1.5 · 2^23 rounds to an integer, which then sits in the low bits of t's mantissa.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = x * 1.44269504088896341 + magic
    let n = t - magic
    let r = (x - n * 0.693359375) - n * -2.12194440e-4   // ln 2 in two parts
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    // 2^n: the exponent field n + 127, from t's bits (0x4B40_0000 + n).
    let exponent = unsafeBitCast(t, to: SIMD8<UInt32>.self) &- (0x4B40_0000 - 127)
    return p * unsafeBitCast(exponent &<< 23, to: SIMD8<Float>.self)
}

/// One attention head of one sequence: Z [L, d] = softmax(Q Kᵀ · scale) V, with Q, K, V, Z [L, d] the
/// head's columns of [L, ld] matrices. `keys` is scratch for Kᵀ [d, L rounded up to 8], `scores` for one
/// row [L rounded up to 8]. Kᵀ lets one query's scores be formed eight keys at a time. The scores and
/// the mix of values run in C where the kernels do (`NativeKernels`: 11 % of batch-32 embedding time in
/// these SSE2 loops, perf), the softmax here.
/// With `probabilities` [L, L], the softmax rows are also written there (for `qkv attention`).
func attentionHead(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>,
                   tokens L: Int, headDim d: Int, ld: Int, scale: Float,
                   keys: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
                   probabilities: UnsafeMutablePointer<Float>? = nil) {
    // Index arithmetic below uses &+ and &*: every index is below the buffer sizes above, which fit in Int.
    let width = (L + 7) & ~7
    for c in 0..<d {
        for j in 0..<L { keys[c &* width &+ j] = k[j &* ld &+ c] }
        for j in L..<width { keys[c &* width &+ j] = 0 }
    }
    let native = NativeKernels.enabled && d % 8 == 0
    for i in 0..<L {
        let query = q + i &* ld, out = z + i &* ld
        // scores [width] = q_i · Kᵀ · scale, sixteen keys at a time, then eight
        var j = 0
        if native { qkv_attention_scores_transposed(query, keys, width, d, scale, scores); j = width }
        while j &+ 16 <= width {
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
            var column = keys + j
            for c in 0..<d {
                let qc = SIMD8<Float>(repeating: query[c])
                acc0 += qc * load8(column)
                acc1 += qc * load8(column + 8)
                column += width
            }
            store8(acc0 * scale, scores + j)
            store8(acc1 * scale, scores + (j &+ 8))
            j &+= 16
        }
        if j < width {
            var acc = SIMD8<Float>()
            var column = keys + j
            for c in 0..<d { acc += query[c] * load8(column); column += width }
            store8(acc * scale, scores + j)
        }
        for j in L..<width { scores[j] = -.infinity }   // the padding keys: e^x clamps them to ~1e-38
        var max8 = SIMD8<Float>(repeating: -.infinity)
        j = 0
        while j < width { max8 = max8.replacing(with: load8(scores + j), where: load8(scores + j) .> max8); j &+= 8 }
        let maxValue = max8.max()
        var sum8 = SIMD8<Float>()
        j = 0
        while j < width { let e = exp8(load8(scores + j) - maxValue); store8(e, scores + j); sum8 += e; j &+= 8 }
        let inv = 1 / sum8.sum()
        if let probabilities { for j in 0..<L { probabilities[i &* L &+ j] = scores[j] * inv } }
        if native { qkv_attention_mix(scores, v, ld, L, d, inv, out); continue }
        // z_i = Σ_j p_j v_j, thirty-two of d at a time (a whole head of MiniLM), then sixteen, eight, one
        var c = 0
        while c &+ 32 <= d {
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
            var row = v + c
            for j in 0..<L {
                let p = SIMD8<Float>(repeating: scores[j])
                acc0 += p * load8(row)
                acc1 += p * load8(row + 8)
                acc2 += p * load8(row + 16)
                acc3 += p * load8(row + 24)
                row += ld
            }
            store8(acc0 * inv, out + c)
            store8(acc1 * inv, out + (c &+ 8))
            store8(acc2 * inv, out + (c &+ 16))
            store8(acc3 * inv, out + (c &+ 24))
            c &+= 32
        }
        while c &+ 16 <= d {
            var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
            var row = v + c
            for j in 0..<L {
                let p = SIMD8<Float>(repeating: scores[j])
                acc0 += p * load8(row)
                acc1 += p * load8(row + 8)
                row += ld
            }
            store8(acc0 * inv, out + c)
            store8(acc1 * inv, out + (c &+ 8))
            c &+= 16
        }
        while c &+ 8 <= d {
            var acc = SIMD8<Float>()
            var row = v + c
            for j in 0..<L { acc += scores[j] * load8(row); row += ld }
            store8(acc * inv, out + c)
            c &+= 8
        }
        while c < d {
            var acc: Float = 0
            for j in 0..<L { acc += scores[j] * v[j &* ld &+ c] }
            out[c] = acc * inv
            c &+= 1
        }
    }
}

/// x limited to [low, high] lane by lane (`clamped` is not inlined into the kernels; this is).
@inline(__always)
func clamp8(_ x: SIMD8<Float>, _ low: Float, _ high: Float) -> SIMD8<Float> {
    let lows = SIMD8<Float>(repeating: low), highs = SIMD8<Float>(repeating: high)
    return x.replacing(with: lows, where: x .< lows).replacing(with: highs, where: x .> highs)
}

/// Eight floats from p (any alignment).
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Eight floats to p (any alignment).
@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// x [n] / max(‖x‖₂, eps), in place (PyTorch's F.normalize).
func l2Normalize(_ x: UnsafeMutablePointer<Float>, n: Int, epsilon: Float = 1e-12) {
    var sum: Float = 0
    for i in 0..<n { sum += x[i] * x[i] }
    let scale = 1 / max(sum.squareRoot(), epsilon)
    for i in 0..<n { x[i] *= scale }
}
