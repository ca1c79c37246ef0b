import Foundation
import QKVFormat

/// One head removed from a forward pass: its output z_h (its slice of the attention output, before W_O)
/// replaced in every row, as `qkv attention --ablate` does to each head in turn (Specs/attention.md).
public struct HeadAblation: Sendable, Equatable {
    /// What replaces the head's output.
    public enum Mode: String, Sendable, CaseIterable {
        /// Zeros: the head adds nothing but W_O's bias (which belongs to no head).
        case zero
        /// The head's mean output over the positions of the text, in every row: only what varies with the
        /// position is removed.
        case mean
    }

    public var layer: Int
    public var head: Int
    public var mode: Mode

    public init(layer: Int, head: Int, mode: Mode) {
        self.layer = layer
        self.head = head
        self.mode = mode
    }
}

/// The hook: z [rows, ld] (ld = H·d) with head h's columns h·d ..< (h+1)·d replaced by zeros or by their
/// mean over the rows. The forward passes call it between attention and W_O; with `.mean` the rows must
/// be the whole text (decoders run it as one chunk).
func ablateHead(_ z: UnsafeMutablePointer<Float>, rows: Int, ld: Int, headDim d: Int, _ ablation: HeadAblation) {
    let columns = z + ablation.head * d
    var mean = [Float](repeating: 0, count: d)
    if ablation.mode == .mean && rows > 0 {
        var sum = [Double](repeating: 0, count: d)
        for r in 0..<rows { for j in 0..<d { sum[j] += Double(columns[r * ld + j]) } }
        for j in 0..<d { mean[j] = Float(sum[j] / Double(rows)) }
    }
    for r in 0..<rows { for j in 0..<d { columns[r * ld + j] = mean[j] } }
}

/// Every head's effect on one text when it alone is removed (Specs/attention.md, "Ablation").
public struct AblationReport: Sendable {
    /// What the effect measures.
    public enum Metric: String, Sendable {
        /// Decoders: mean log p(x_t | x_<t) over t = 1…T−1 with the head removed, minus the clean pass's (nats).
        case meanLogProbability = "mean_log_probability"
        /// Encoders: 1 − cos between the sentence embedding with and without the head.
        case embeddingCosineDistance = "embedding_cosine_distance"
    }

    public let mode: HeadAblation.Mode
    public let metric: Metric
    public let layerCount: Int, headCount: Int, tokenCount: Int
    /// The clean pass's mean log-probability of tokens 1…T−1 (decoders; 0 for a one-token text), else nil.
    public let cleanMeanLogProbability: Double?
    /// [layer, head]: each head's effect.
    public let effects: [Double]
    /// [layer, head, token]: decoders' change of log p(x_t | x_<t), 0 at t = 0; empty for encoders.
    public let tokenDeltas: [Double]

    public init(mode: HeadAblation.Mode, metric: Metric, layerCount: Int, headCount: Int, tokenCount: Int,
                cleanMeanLogProbability: Double?, effects: [Double], tokenDeltas: [Double]) {
        precondition(effects.count == layerCount * headCount)
        precondition(tokenDeltas.isEmpty || tokenDeltas.count == layerCount * headCount * tokenCount)
        self.mode = mode
        self.metric = metric
        self.layerCount = layerCount
        self.headCount = headCount
        self.tokenCount = tokenCount
        self.cleanMeanLogProbability = cleanMeanLogProbability
        self.effects = effects
        self.tokenDeltas = tokenDeltas
    }

    public func effect(layer: Int, head: Int) -> Double { effects[layer * headCount + head] }

    /// A decoder head's change of each token's log-probability [T] (0 at t = 0), else nil.
    public func tokenDeltas(layer: Int, head: Int) -> ArraySlice<Double>? {
        guard !tokenDeltas.isEmpty else { return nil }
        let start = (layer * headCount + head) * tokenCount
        return tokenDeltas[start..<start + tokenCount]
    }

    /// The token (position 1…T−1) whose log-probability moved most, the first on a tie; nil for encoders
    /// and one-token texts.
    public func mostChanged(layer: Int, head: Int) -> (position: Int, delta: Double)? {
        guard let deltas = tokenDeltas(layer: layer, head: head), tokenCount > 1 else { return nil }
        var best = 1
        for t in 2..<max(tokenCount, 2) where abs(deltas[deltas.startIndex + t]) > abs(deltas[deltas.startIndex + best]) { best = t }
        return (best, deltas[deltas.startIndex + best])
    }
}

/// Every (layer, head) of a model, layer by layer, as ablations of `mode`.
private func everyHead(_ config: ModelConfig, _ mode: HeadAblation.Mode) -> [HeadAblation] {
    (0..<config.layerCount).flatMap { l in (0..<config.headCount).map { HeadAblation(layer: l, head: $0, mode: mode) } }
}

extension DecoderModel {
    /// Each head's effect on the mean log-probability of `tokens` (each given its prefix): one pass of the
    /// whole text per head, from an empty cache, with that head removed.
    public func ablationEffects(_ tokens: [Int], mode: HeadAblation.Mode) throws(InferenceError) -> AblationReport {
        guard !tokens.isEmpty else { throw .emptyPrompt }
        let T = tokens.count, V = config.vocabSize
        // The whole text in one chunk: a mean ablation averages over every position.
        let session = makeSession(capacity: T, chunkTokens: T)
        try check(tokens, session)
        var logits = [Float](repeating: 0, count: T * V)
        func logProbabilities(_ ablation: HeadAblation?) -> [Double] {
            session.reset()
            return logits.withUnsafeMutableBufferPointer { logits in
                forwardChunks(tokens, session: session, allLogits: logits.baseAddress!, record: nil, ablation: ablation)
                return [0] + (1..<T).map { logProbability(logits.baseAddress! + ($0 - 1) * V, n: V, at: tokens[$0]) }
            }
        }
        func mean(_ values: [Double]) -> Double { T > 1 ? values.dropFirst().reduce(0, +) / Double(T - 1) : 0 }
        let clean = logProbabilities(nil), cleanMean = mean(clean)
        var effects: [Double] = [], deltas: [Double] = []
        for ablation in everyHead(config, mode) {
            let ablated = logProbabilities(ablation)
            effects.append(mean(ablated) - cleanMean)
            deltas += zip(ablated, clean).map { $0 - $1 }
        }
        return AblationReport(mode: mode, metric: .meanLogProbability, layerCount: config.layerCount, headCount: config.headCount,
                              tokenCount: T, cleanMeanLogProbability: cleanMean, effects: effects, tokenDeltas: deltas)
    }
}

extension BertEncoder {
    /// Each head's effect on the sentence embedding of `ids` (pooled and normalised as `embed` does):
    /// 1 − cos with the clean embedding. The clean text and its ablated copies run as packed batches.
    public func ablationEffects(_ ids: [Int], mode: HeadAblation.Mode) throws(InferenceError) -> AblationReport {
        guard !ids.isEmpty else { throw .emptyPrompt }
        let runs: [HeadAblation?] = [nil] + everyHead(config, mode)
        // Batches of about 4096 tokens keep the workspace near an ordinary embedding batch's.
        let perBatch = max(1, 4096 / ids.count)
        var vectors: [[Float]] = []
        var start = 0
        while start < runs.count {
            let batch = Array(runs[start..<min(start + perBatch, runs.count)])
            vectors += try embed(tokenIDs: Array(repeating: ids, count: batch.count), ablations: batch)
            start += batch.count
        }
        let clean = vectors[0]
        func distance(_ v: [Float]) -> Double {
            var dot = 0.0, a = 0.0, b = 0.0
            for j in clean.indices { dot += Double(clean[j]) * Double(v[j]); a += Double(clean[j]) * Double(clean[j]); b += Double(v[j]) * Double(v[j]) }
            return a > 0 && b > 0 ? 1 - dot / (a * b).squareRoot() : 1
        }
        return AblationReport(mode: mode, metric: .embeddingCosineDistance, layerCount: config.layerCount, headCount: config.headCount,
                              tokenCount: ids.count, cleanMeanLogProbability: nil, effects: vectors.dropFirst().map(distance), tokenDeltas: [])
    }
}
