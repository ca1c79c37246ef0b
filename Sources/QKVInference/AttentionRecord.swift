import COpenBLAS
import QKVFormat

/// What every attention head did to one sequence, recorded during a forward pass: its attention
/// probabilities and the size of the update it added to each token's vector.
///
/// The probabilities are the softmax(QKᵀ/√d) the model used, with its mask (masked entries are 0); the
/// update is the head's output after its own slice of W_O, z_h · W_O[h], i.e. what the head adds to the
/// residual stream, so a head that looks somewhere but changes nothing shows as such.
///
/// Unchecked `Sendable`: the `store…`/`apply…` methods (internal) are called only by the forward pass
/// that made the record, on its calling thread (a recording pass runs attention on one thread), before
/// it returns the record; from then on it is only read.
public final class AttentionRecord: @unchecked Sendable {
    public let layerCount: Int
    public let headCount: Int
    public let tokenCount: Int
    /// A decoder's causal mask: token i sees keys 0...i; an encoder's tokens see all of them.
    public let isCausal: Bool
    /// [layer, head, query token, key token], row-major; each row sums to 1 over the keys it may see.
    public private(set) var probabilities: [Float]
    /// [layer, head, token]: ‖z_h · W_O[h]‖₂, the norm of head h's update to that token.
    public private(set) var updateNorms: [Float]

    /// [layer, head, token, D]: z_h · W_O[h] itself, kept only when the record was made with a `modelDim`
    /// (for the logit lens of `--writes`); empty otherwise.
    public private(set) var updateVectors: [Float]
    /// [token]: the scale the final norm divides that token's last residual by, √(mean((x − mean x)²) + ε)
    /// for a LayerNorm, √(mean(x²) + ε) for an RMSNorm; kept with the update vectors.
    public private(set) var finalNormScales: [Float]
    /// Whether the final norm centres (a LayerNorm), so a head's update is centred before the scale.
    public private(set) var finalNormCenters = false
    /// D when the update vectors are kept, else nil.
    public let modelDim: Int?
    public var keepsUpdateVectors: Bool { modelDim != nil }

    /// An empty record for one sequence, filled by the forward pass.
    ///
    /// - Parameters:
    ///   - layerCount: the model's layers.
    ///   - headCount: query heads per layer.
    ///   - tokenCount: the sequence's tokens.
    ///   - isCausal: whether a token attends only to those before it (decoders).
    ///   - modelDim: keep every head's update vectors (D floats per head and token) and the final
    ///     norm's scales, for `--writes`; nil keeps only their norms.
    public init(layerCount: Int, headCount: Int, tokenCount: Int, isCausal: Bool, modelDim: Int? = nil) {
        self.layerCount = layerCount
        self.isCausal = isCausal
        self.headCount = headCount
        self.tokenCount = tokenCount
        self.modelDim = modelDim
        probabilities = [Float](repeating: 0, count: layerCount * headCount * tokenCount * tokenCount)
        updateNorms = [Float](repeating: 0, count: layerCount * headCount * tokenCount)
        updateVectors = [Float](repeating: 0, count: modelDim.map { layerCount * headCount * tokenCount * $0 } ?? 0)
        finalNormScales = [Float](repeating: 0, count: modelDim == nil ? 0 : tokenCount)
    }

    /// One head's update vector for one token [D] (the record must keep them).
    public func updateVector(layer: Int, head: Int, token: Int) -> ArraySlice<Float> {
        let D = modelDim ?? 0, start = ((layer * headCount + head) * tokenCount + token) * D
        return updateVectors[start..<start + D]
    }

    /// Stores the final norm's scale of residual rows x [rows, D] (the input of the final norm) for the
    /// tokens from `firstQuery` on.
    func storeFinalNormScales(firstQuery: Int, rows: Int, residual x: UnsafePointer<Float>, centered: Bool, epsilon: Float) {
        guard let D = modelDim else { return }
        finalNormCenters = centered
        for r in 0..<rows { finalNormScales[firstQuery + r] = normScale(x + r * D, n: D, centered: centered, epsilon: epsilon) }
    }

    /// Takes the kept update vectors of `layer` through the attention's post norm (Gemma's sandwich),
    /// linearised as the final norm is: with the scale of the whole attention output y [rows, D] at that
    /// token, u ← γ ⊙ (u − mean u if centred) / σ(y).
    func applyPostNorm(layer: Int, firstQuery: Int, rows: Int, attentionOutput y: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       centered: Bool, epsilon: Float) {
        guard let D = modelDim else { return }
        updateVectors.withUnsafeMutableBufferPointer { vectors in
            for r in 0..<rows {
                let scale = 1 / normScale(y + r * D, n: D, centered: centered, epsilon: epsilon)
                for head in 0..<headCount {
                    let u = vectors.baseAddress! + ((layer * headCount + head) * tokenCount + firstQuery + r) * D
                    var mean: Float = 0
                    if centered { for j in 0..<D { mean += u[j] }; mean /= Float(D) }
                    for j in 0..<D { u[j] = weight[j] * ((u[j] - mean) * scale) }
                }
            }
        }
    }

    /// One head's [tokens, tokens] matrix, row-major.
    public func matrix(layer: Int, head: Int) -> ArraySlice<Float> {
        let size = tokenCount * tokenCount, start = (layer * headCount + head) * size
        return probabilities[start..<start + size]
    }

    /// One head's update norms [tokens].
    public func updates(layer: Int, head: Int) -> ArraySlice<Float> {
        let start = (layer * headCount + head) * tokenCount
        return updateNorms[start..<start + tokenCount]
    }

    /// Copies probability rows p [rows, keys] (row stride `stride`) of one head, for the query tokens
    /// from `firstQuery` on.
    func storeProbabilities(layer: Int, head: Int, firstQuery: Int, rows: Int, keys: Int, stride: Int, _ p: UnsafePointer<Float>) {
        let base = (layer * headCount + head) * tokenCount * tokenCount
        probabilities.withUnsafeMutableBufferPointer { out in
            for r in 0..<rows {
                let target = out.baseAddress! + base + (firstQuery + r) * tokenCount
                target.update(from: p + r * stride, count: keys)
            }
        }
    }

    /// Computes and stores every head's update norms for `rows` tokens from `firstQuery` on:
    /// z [rows, H·d] (all heads side by side) times each head's slice of W_O ([H·d, D], or [D, H·d] as rows).
    func storeUpdates(layer: Int, firstQuery: Int, rows: Int, heads z: UnsafePointer<Float>, output: UnsafePointer<Float>,
                      headDim d: Int, modelDim D: Int, outputLayout: ModelConfig.OutputLayout = .heads) {
        let H = headCount
        var update = [Float](repeating: 0, count: rows * D)
        update.withUnsafeMutableBufferPointer { update in
            for head in 0..<H {
                // update [rows, D] = z_h [rows, d] (row stride H·d) · W_O[h] [d, D]; W_O stored as rows
                // [D, H·d] holds W_O[h]ᵀ in its columns h·d ..< (h+1)·d.
                if outputLayout == .rows {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(D), Int32(d), 1,
                                z + head * d, Int32(H * d), output + head * d, Int32(H * d), 0, update.baseAddress!, Int32(D))
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(D), Int32(d), 1,
                                z + head * d, Int32(H * d), output + head * d * D, Int32(D), 0, update.baseAddress!, Int32(D))
                }
                if let D = modelDim {
                    for r in 0..<rows {
                        let start = ((layer * H + head) * tokenCount + firstQuery + r) * D
                        updateVectors.withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: start).update(from: update.baseAddress! + r * D, count: D) }
                    }
                }
                for r in 0..<rows {
                    var sum: Float = 0
                    for j in 0..<D { sum += update[r * D + j] * update[r * D + j] }
                    updateNorms[(layer * H + head) * tokenCount + firstQuery + r] = sum.squareRoot()
                }
            }
        }
    }
}

/// The scale a norm divides a row x [n] by: √(mean((x − mean x)²) + ε) for a LayerNorm (`centered`),
/// √(mean(x²) + ε) for an RMSNorm; in Double, for the logit lens.
func normScale(_ x: UnsafePointer<Float>, n: Int, centered: Bool, epsilon: Float) -> Float {
    var mean = 0.0, square = 0.0
    if centered { for j in 0..<n { mean += Double(x[j]) }; mean /= Double(n) }
    for j in 0..<n { let v = Double(x[j]) - mean; square += v * v }
    return Float((square / Double(n) + Double(epsilon)).squareRoot())
}
