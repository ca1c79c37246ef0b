import COpenBLAS
import CQKVKernels
import Foundation

// The kernels only decoders use, in the style of Kernels.swift: small free functions over row-major f32
// buffers, shapes in the comments. Callers own every buffer and guarantee the sizes.

/// RMSNorm of each row of x [rows, n] into out [rows, n]: x / sqrt(mean(x²) + eps) · weight (LLaMA's;
/// x and out may be the same buffer).
func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
             rows: Int, n: Int, epsilon: Float) {
    for r in 0..<rows {
        let row = x + r * n, target = out + r * n
        var sum8 = SIMD8<Float>(), i = 0
        while i + 8 <= n { let v = load8(row + i); sum8 += v * v; i += 8 }
        var sum = sum8.sum()
        while i < n { sum += row[i] * row[i]; i += 1 }
        let scale = 1 / (sum / Float(n) + epsilon).squareRoot()
        i = 0
        while i + 8 <= n { store8(load8(weight + i) * (load8(row + i) * scale), target + i); i += 8 }
        while i < n { target[i] = weight[i] * (row[i] * scale); i += 1 }
    }
}

/// The rotation angles of RoPE for one position: cos and sin [dims/2] of position · θ^(-2i/dims)
/// (divided by `factors[i]` when given: llama.cpp's `rope_freqs`, Llama 3's, YaRN's and LongRoPE's
/// scalings), each times `scale` (YaRN's and LongRoPE's attention factor), computed in f32 the way Hugging
/// Face's rotary embeddings compute them, so the rotated heads match its bits as closely as f32 allows.
func ropeAngles(position: Int, dims: Int, theta: Double, factors: [Float]?, scale: Float = 1,
                cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
    let base = Float(theta)
    for i in 0..<(dims / 2) {
        var inverseFrequency = 1 / powf(base, Float(2 * i) / Float(dims))
        if let factors { inverseFrequency /= factors[i] }
        let angle = Float(position) * inverseFrequency
        cos[i] = cosf(angle) * scale
        sin[i] = sinf(angle) * scale
    }
}

/// Rotates the first `ropeDims` dimensions of every head of one token in place: x [heads, d] (heads side
/// by side in a row); the other d − ropeDims dimensions pass through (partial rotary).
/// `half` pairs i with i + ropeDims/2 (Hugging Face `rotate_half`); `interleaved` pairs 2i with 2i + 1.
func applyRope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, ropeDims: Int, interleaved: Bool,
               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = ropeDims / 2
    for h in 0..<heads {
        let v = x + h * d
        for i in 0..<half {
            let (a, b) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
            let x1 = v[a], x2 = v[b]
            v[a] = x1 * cos[i] - x2 * sin[i]
            v[b] = x2 * cos[i] + x1 * sin[i]
        }
    }
}

/// x [count] = c · tanh(x / c) in place: Gemma 2's soft cap on attention scores and logits.
func softcapInPlace(_ x: UnsafeMutablePointer<Float>, _ c: Float, count: Int) {
    for i in 0..<count { x[i] = c * tanhf(x[i] / c) }
}

/// x [count] *= factor.
func scaleInPlace(_ x: UnsafeMutablePointer<Float>, _ factor: Float, count: Int) {
    var i = 0
    let f = SIMD8<Float>(repeating: factor)
    while i + 8 <= count { store8(load8(x + i) * f, x + i); i += 8 }
    while i < count { x[i] *= factor; i += 1 }
}

/// x [count] *= y [count], element by element (a gated MLP's act(gate) · up).
func multiplyInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count { store8(load8(x + i) * load8(y + i), x + i); i += 8 }
    while i < count { x[i] *= y[i]; i += 1 }
}

/// GPT-2's GELU in place (`gelu_new`): 0.5 · x · (1 + tanh(y)), y = √(2/π) · (x + 0.044715 · x³),
/// computed as x / (1 + e^(-2y)) (the same function: 1 + tanh(y) = 2 / (1 + e^(-2y))), eight at a time
/// through `exp8`. exp8 clamps its input, so large |y| gives x or a value near 0, never inf or NaN.
func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 0.7978845608028654   // √(2/π)
    var i = 0
    while i + 8 <= count {
        let v = load8(x + i)
        let y = c * (v + 0.044715 * v * v * v)
        store8(v / (1 + exp8(-2 * y)), x + i)
        i += 8
    }
    while i < count {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
        i += 1
    }
}

/// LLaMA's gated MLP activation in place: gate [count] = silu(gate) · up, silu(g) = g / (1 + e^-g).
func siluGate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let g = load8(gate + i)
        store8(g / (1 + exp8(-g)) * load8(up + i), gate + i)
        i += 8
    }
    while i < count {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
        i += 1
    }
}

/// One query head of one new token against its cached keys and values, without BLAS (one call per head
/// per token costs more in OpenBLAS's overhead than in arithmetic), in the C kernels where they run
/// (`NativeKernels`), else in these Swift loops: scores [positions] = K q · scale,
/// softmax (left in `scores`, for the attention record), z [d] = Σ_j p_j V [j, :].
/// keys, values [positions, d] contiguous (the session's cache of one kv head); scores [positions].
func decodeAttentionHead(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                         _ z: UnsafeMutablePointer<Float>, positions: Int, headDim d: Int, scale: Float, softcap: Float = 0,
                         scores: UnsafeMutablePointer<Float>) {
    if NativeKernels.enabled && d % 8 == 0 {
        qkv_attention_scores(q, keys, positions, d, scale, scores)
        if softcap > 0 { softcapInPlace(scores, softcap, count: positions) }
        softmaxRows(scores, rows: 1, n: positions)
        qkv_attention_mix(scores, values, d, positions, d, 1, z)
        return
    }
    // Index arithmetic uses &+ and &*: every index is below positions · d, the cache's size.
    for j in 0..<positions {
        let key = keys + j &* d
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), c = 0
        while c &+ 16 <= d { a0 += load8(q + c) * load8(key + c); a1 += load8(q + (c &+ 8)) * load8(key + (c &+ 8)); c &+= 16 }
        while c &+ 8 <= d { a0 += load8(q + c) * load8(key + c); c &+= 8 }
        var sum = (a0 + a1).sum()
        while c < d { sum += q[c] * key[c]; c &+= 1 }
        scores[j] = sum * scale
    }
    if softcap > 0 { softcapInPlace(scores, softcap, count: positions) }
    softmaxRows(scores, rows: 1, n: positions)
    var c = 0
    while c &+ 32 <= d {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var row = values + c
        for j in 0..<positions {
            let p = SIMD8<Float>(repeating: scores[j])
            a0 += p * load8(row); a1 += p * load8(row + 8); a2 += p * load8(row + 16); a3 += p * load8(row + 24)
            row += d
        }
        store8(a0, z + c); store8(a1, z + (c &+ 8)); store8(a2, z + (c &+ 16)); store8(a3, z + (c &+ 24))
        c &+= 32
    }
    while c &+ 8 <= d {
        var a0 = SIMD8<Float>()
        var row = values + c
        for j in 0..<positions { a0 += scores[j] * load8(row); row += d }
        store8(a0, z + c)
        c &+= 8
    }
    while c < d {
        var sum: Float = 0
        for j in 0..<positions { sum += scores[j] * values[j &* d &+ c] }
        z[c] = sum
        c &+= 1
    }
}

/// log softmax of x [n] at index `i`, accumulated in f64 so long vocabularies lose nothing.
func logProbability(_ x: UnsafePointer<Float>, n: Int, at i: Int) -> Double {
    var maxValue = -Float.infinity
    for j in 0..<n { maxValue = max(maxValue, x[j]) }
    var sum = 0.0
    for j in 0..<n { sum += exp(Double(x[j] - maxValue)) }
    return Double(x[i] - maxValue) - log(sum)
}
