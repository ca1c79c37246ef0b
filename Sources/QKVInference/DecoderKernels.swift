import COpenBLAS
import Foundation

// The kernels only decoders use, in the style of Kernels.swift: small free functions over row-major f32
// buffers, shapes in the comments. Callers own every buffer and guarantee the sizes.

/// Y [m, n] = X [m, k] · Wᵀ with W stored [n, k], plus `beta`·Y; one row (a decoded token) goes through
/// sgemv, which OpenBLAS runs much faster than an sgemm with m = 1.
@inline(__always)
func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
            m: Int, n: Int, k: Int, beta: Float = 0) {
    if m == 1 {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, w, Int32(k), x, 1, beta, y, 1)
    } else {
        matmulTransposed(x, w, y, m: m, n: n, k: k, beta: beta)
    }
}

/// RMSNorm of each row of x [rows, n] into out [rows, n]: x / sqrt(mean(x²) + eps) · weight (LLaMA's;
/// x and out may be the same buffer).
func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
             rows: Int, n: Int, epsilon: Float) {
    for r in 0..<rows {
        let row = x + r * n, target = out + r * n
        var sum: Float = 0
        for i in 0..<n { sum += row[i] * row[i] }
        let scale = 1 / (sum / Float(n) + epsilon).squareRoot()
        for i in 0..<n { target[i] = weight[i] * (row[i] * scale) }
    }
}

/// The rotation angles of RoPE for one position: cos and sin [d/2] of position · θ^(-2i/d), computed in
/// f32 the way Hugging Face's LlamaRotaryEmbedding computes them, so the rotated heads match its bits
/// as closely as f32 allows.
func ropeAngles(position: Int, headDim d: Int, theta: Double, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
    let base = Float(theta)
    for i in 0..<(d / 2) {
        let inverseFrequency = 1 / powf(base, Float(2 * i) / Float(d))
        let angle = Float(position) * inverseFrequency
        cos[i] = cosf(angle)
        sin[i] = sinf(angle)
    }
}

/// Rotates every head of one token in place: x [heads, d] (heads side by side in a row).
/// `half` pairs i with i + d/2 (Hugging Face `rotate_half`); `interleaved` pairs 2i with 2i + 1.
func applyRope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, interleaved: Bool,
               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = d / 2
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

/// GPT-2's GELU in place (`gelu_new`): 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let c: Float = 0.7978845608028654   // √(2/π)
    for i in 0..<count {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
    }
}

/// LLaMA's gated MLP activation in place: gate [count] = silu(gate) · up, silu(g) = g / (1 + e^-g).
func siluGate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
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
