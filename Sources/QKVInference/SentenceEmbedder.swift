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

extension BertEncoder {
    /// One vector per sequence of token ids: the encoder's last hidden states pooled as the model file
    /// says (mean when it does not say) and L2-normalised when it says so. Sequences of any lengths are
    /// packed, not padded.
    public func embed(tokenIDs sequences: [[Int]]) throws(InferenceError) -> [[Float]] {
        try embed(tokenIDs: sequences, ablations: [])
    }

    /// `embed(tokenIDs:)` with sequence s run with head `ablations[s]` replaced before W_O (one per
    /// sequence, or empty for none).
    func embed(tokenIDs sequences: [[Int]], ablations: [HeadAblation?]) throws(InferenceError) -> [[Float]] {
        let D = config.modelDim
        return try withHiddenStates(sequences, ablations: ablations) { states, offsets in
            sequences.indices.map { s in
                var vector = [Float](repeating: 0, count: D)
                vector.withUnsafeMutableBufferPointer { out in
                    pool(states + offsets[s] * D, tokens: sequences[s].count, dimension: D,
                         mode: config.pooling ?? .mean, into: out.baseAddress!)
                    if config.normalize { l2Normalize(out.baseAddress!, n: D) }
                }
                return vector
            }
        }
    }
}
