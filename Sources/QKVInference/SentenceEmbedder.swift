import Foundation
import QKVFormat

/// Pools a sequence's token vectors into one sentence vector, as sentence-transformers' Pooling module.
/// `states` [L, D] row-major.
func pool(_ states: UnsafePointer<Float>, tokens L: Int, dimension D: Int, mode: ModelConfig.Pooling, into out: UnsafeMutablePointer<Float>) {
    switch mode {
    case .cls:
        for j in 0..<D { out[j] = states[j] }
    case .max:
        for j in 0..<D {
            var best = -Float.infinity
            for i in 0..<L { best = max(best, states[i * D + j]) }
            out[j] = L == 0 ? 0 : best
        }
    case .mean, .meanSqrtLen:
        // Every packed token is real (no padding), so the mask is all ones: divide by max(L, 1e-9).
        for j in 0..<D { out[j] = 0 }
        for i in 0..<L { for j in 0..<D { out[j] += states[i * D + j] } }
        let divisor = mode == .mean ? max(Float(L), 1e-9) : max(Float(L), 1e-9).squareRoot()
        for j in 0..<D { out[j] /= divisor }
    }
}

/// W (out, in) @ x (in,) + b -> y (out,), then the activation (sentence-transformers' Dense module:
/// PyTorch's `Linear` and a `torch.nn` activation). Accumulates in f32, as PyTorch does on the CPU.
func denseModule(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, inputs: Int, outputs: Int,
                 activation: ModelConfig.Dense.Activation, into y: UnsafeMutablePointer<Float>) {
    for o in 0..<outputs {
        var sum: Float = 0
        let row = w + o * inputs
        for i in 0..<inputs { sum += row[i] * x[i] }
        y[o] = sum + (b?[o] ?? 0)
    }
    switch activation {
    case .identity: break
    case .tanh: for o in 0..<outputs { y[o] = tanhf(y[o]) }
    case .relu: for o in 0..<outputs { y[o] = max(y[o], 0) }
    case .geluErf: geluErf(y, count: outputs)
    case .sigmoid: for o in 0..<outputs { y[o] = 1 / (1 + expf(-y[o])) }
    case .silu: for o in 0..<outputs { y[o] /= 1 + expf(-y[o]) }
    }
}

extension BertEncoder {
    /// One vector per sequence of token ids: the encoder's last hidden states pooled as the model file
    /// says (mean when it does not say), through its Dense modules, and L2-normalised when it says so
    /// (Specs/schema.md, "Sentence vectors"). Sequences of any lengths are packed, not padded.
    public func embed(tokenIDs sequences: [[Int]]) throws(InferenceError) -> [[Float]] {
        try embed(tokenIDs: sequences, ablations: [])
    }

    /// `embed(tokenIDs:)` with sequence s run with head `ablations[s]` replaced before W_O (one per
    /// sequence, or empty for none).
    func embed(tokenIDs sequences: [[Int]], ablations: [HeadAblation?]) throws(InferenceError) -> [[Float]] {
        let D = config.modelDim
        let widest = dense.reduce(D) { max($0, $1.outputs) }
        return try withHiddenStates(sequences, ablations: ablations) { states, offsets in
            sequences.indices.map { s in
                // Two buffers of the widest width: each Dense module reads one and writes the other.
                var buffers = [Float](repeating: 0, count: 2 * widest)
                return buffers.withUnsafeMutableBufferPointer { buffers in
                    var x = buffers.baseAddress!, y = x + widest, width = D
                    pool(states + offsets[s] * D, tokens: sequences[s].count, dimension: D, mode: config.pooling ?? .mean, into: x)
                    for module in dense {
                        denseModule(x, module.weight.pointer, module.bias?.pointer, inputs: module.inputs, outputs: module.outputs,
                                    activation: module.activation, into: y)
                        swap(&x, &y)
                        width = module.outputs
                    }
                    if config.normalize { l2Normalize(x, n: width) }
                    return Array(UnsafeBufferPointer(start: x, count: width))
                }
            }
        }
    }
}
