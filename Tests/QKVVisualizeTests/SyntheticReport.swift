import Foundation
import QKVFormat
@testable import QKVInference
@testable import QKVVisualize

/// Small hand-made attention reports whose every number is known.
enum SyntheticReport {
    /// A token that breaks careless HTML, XML and JSON writers.
    static let hostileToken = "</script><b>&\"'"

    /// 2 layers x 2 heads over 3 tokens, bidirectional:
    /// - (0, 0) previous token: row 0 attends to itself, rows 1 and 2 to the token before;
    /// - (0, 1) first-token sink: every row attends to token 0;
    /// - (1, 0) uniform: 1/3 everywhere;
    /// - (1, 1) self: the identity.
    /// Head h of layer l updates token t by `updates[l][h][t]`.
    static func make(tokens: [String] = ["[CLS]", hostileToken, "[SEP]"], withWeights: Bool = true) -> AttentionReport {
        let T = 3
        let record = AttentionRecord(layerCount: 2, headCount: 2, tokenCount: T, isCausal: false)
        let third: Float = 1.0 / 3
        let matrices: [[[Float]]] = [
            [[1, 0, 0, 1, 0, 0, 0, 1, 0], [1, 0, 0, 1, 0, 0, 1, 0, 0]],
            [[Float](repeating: third, count: 9), [1, 0, 0, 0, 1, 0, 0, 0, 1]],
        ]
        for layer in 0..<2 {
            for head in 0..<2 {
                matrices[layer][head].withUnsafeBufferPointer {
                    record.storeProbabilities(layer: layer, head: head, firstQuery: 0, rows: T, keys: T, stride: T, $0.baseAddress!)
                }
            }
        }
        // d = 1, D = 1 and W_O = [1, 1]: each head's update norm to token t is z[t, h].
        let updates: [[[Float]]] = [[[1, 2, 3], [0.5, 0.5, 0.5]], [[2, 2, 2], [4, 0, 1]]]
        for layer in 0..<2 {
            let z: [Float] = (0..<T).flatMap { t in [updates[layer][0][t], updates[layer][1][t]] }
            let output: [Float] = [1, 1]
            record.storeUpdates(layer: layer, firstQuery: 0, rows: T, heads: z, output: output, headDim: 1, modelDim: 1)
        }
        var config = ModelConfig(family: .bert, vocabSize: 100, modelDim: 2, layerCount: 2, headCount: 2, keyValueHeadCount: 2,
                                 headDim: 1, ffnDim: 4, maxPositions: 16, norm: .layernorm, normEpsilon: 1e-12,
                                 normPlacement: .post, activation: .geluErf, positionEncoding: .learned)
        config.typeVocabSize = 2
        let weights = withWeights ? (0..<2).flatMap { layer in
            (0..<2).map { head in
                ModelSummary.Head(layer: layer, head: head, kvHead: head, query: 1 + Double(layer), key: 2, value: 3 + Double(head), output: 0.5)
            }
        } : []
        return AttentionReport(modelPath: "synthetic.qkv", config: config, tokenIDs: [101, 7, 102], tokens: tokens, record: record,
                               profiles: record.headProfiles(), weights: weights)
    }
}
