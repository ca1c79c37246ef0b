import QKVFormat

/// What every head's update writes at every position, read through the final norm and the unembedding
/// (the logit lens on one head): the tokens it pushes toward and away from, with their logit
/// contributions (Specs/attention.md, "Writes").
public struct HeadWrites: Sendable {
    /// Tokens each way.
    public let k: Int
    public let layerCount: Int, headCount: Int, tokenCount: Int
    /// [layer, head, token, 2, k]: token ids; [..., 0, :] toward (largest contribution first), [..., 1, :]
    /// away (most negative first).
    public let ids: [Int32]
    /// [layer, head, token, 2, k]: the logit contributions of those ids.
    public let logits: [Float]

    /// One head's top tokens at one position: toward (`away` false) or away.
    public func top(layer: Int, head: Int, token: Int, away: Bool) -> [(id: Int, logit: Float)] {
        let start = ((((layer * headCount + head) * tokenCount + token) * 2) + (away ? 1 : 0)) * k
        return (start..<start + k).map { (Int(ids[$0]), logits[$0]) }
    }
}

extension DecoderModel {
    /// The logit lens on every head's update in `record` (made with `keepingUpdates`): c = W_U · n(u), n the
    /// final norm applied with the full residual's scale at that position (TransformerLens's
    /// `apply_ln_to_stack`): γ ⊙ (u − mean u) / σ_t for a LayerNorm, γ ⊙ u / σ_t for an RMSNorm; no bias, no
    /// final soft cap. Keeps the `k` largest and `k` smallest of each c.
    public func headWrites(_ record: AttentionRecord, top k: Int) -> HeadWrites {
        precondition(record.keepsUpdateVectors && k > 0)
        let D = config.modelDim, V = config.vocabSize, T = record.tokenCount
        let L = record.layerCount, H = record.headCount, k = min(k, V)
        let gamma = finalNorm.weight.pointer
        var ids = [Int32](repeating: 0, count: L * H * T * 2 * k), values = [Float](repeating: 0, count: L * H * T * 2 * k)
        // Rows n(u) in blocks, each through the unembedding as one product [rows, D] · W_Uᵀ.
        let blockRows = 64, total = L * H * T
        var normed = [Float](repeating: 0, count: blockRows * D), contributions = [Float](repeating: 0, count: blockRows * V)
        let scratchFloats = WeightMatrix.scratchFloats(modelDim: D, ffnDim: config.ffnDim, headsTimesHeadDim: config.headCount * config.headDim)
        var scratch = [Float](repeating: 0, count: scratchFloats)
        var first = 0
        while first < total {
            let rows = min(blockRows, total - first)
            for r in 0..<rows {
                let index = first + r, token = index % T
                let u = record.updateVector(layer: index / (H * T), head: index / T % H, token: token)
                let mean = record.finalNormCenters ? u.reduce(0, +) / Float(D) : 0
                let scale = 1 / record.finalNormScales[token]
                for (j, value) in u.enumerated() { normed[r * D + j] = gamma[j] * ((value - mean) * scale) }
            }
            normed.withUnsafeBufferPointer { x in
                contributions.withUnsafeMutableBufferPointer { y in
                    scratch.withUnsafeMutableBufferPointer { s in
                        lmHead.multiply(x.baseAddress!, m: rows, into: y.baseAddress!, ldy: V, rows: 0..<V, scratch: s.baseAddress!, scratchFloats: scratchFloats)
                    }
                }
            }
            for r in 0..<rows {
                let row = contributions[(r * V)..<(r * V + V)]
                let out = (first + r) * 2 * k
                for (side, picked) in [topIndices(row, k, largest: true), topIndices(row, k, largest: false)].enumerated() {
                    for (i, id) in picked.enumerated() {
                        ids[out + side * k + i] = Int32(id)
                        values[out + side * k + i] = row[row.startIndex + id]
                    }
                }
            }
            first += rows
        }
        return HeadWrites(k: k, layerCount: L, headCount: H, tokenCount: T, ids: ids, logits: values)
    }
}

/// The indices of the `k` largest (or smallest) values, in that order, the lower index first on a tie.
func topIndices(_ values: ArraySlice<Float>, _ k: Int, largest: Bool) -> [Int] {
    func before(_ a: Int, _ b: Int) -> Bool {
        let x = values[values.startIndex + a], y = values[values.startIndex + b]
        return x != y ? (largest ? x > y : x < y) : a < b
    }
    var best: [Int] = []
    best.reserveCapacity(k + 1)
    for i in 0..<values.count {
        if best.count == k, !before(i, best[k - 1]) { continue }
        var at = best.count
        while at > 0 && before(i, best[at - 1]) { at -= 1 }
        best.insert(i, at: at)
        if best.count > k { best.removeLast() }
    }
    return best
}
