import COpenBLAS
import QKVFormat

/// What every attention head did to one sequence, recorded during a forward pass: its attention
/// probabilities and the size of the update it added to each token's vector.
///
/// The probabilities are the softmax(QKᵀ/√d) the model used, with its mask (masked entries are 0); the
/// update is the head's output after its own slice of W_O, z_h · W_O[h], i.e. what the head adds to the
/// residual stream, so a head that looks somewhere but changes nothing shows as such.
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

    public init(layerCount: Int, headCount: Int, tokenCount: Int, isCausal: Bool) {
        self.layerCount = layerCount
        self.isCausal = isCausal
        self.headCount = headCount
        self.tokenCount = tokenCount
        probabilities = [Float](repeating: 0, count: layerCount * headCount * tokenCount * tokenCount)
        updateNorms = [Float](repeating: 0, count: layerCount * headCount * tokenCount)
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
                for r in 0..<rows {
                    var sum: Float = 0
                    for j in 0..<D { sum += update[r * D + j] * update[r * D + j] }
                    updateNorms[(layer * H + head) * tokenCount + firstQuery + r] = sum.squareRoot()
                }
            }
        }
    }
}
