import QKVFormat
import QKVTokenizers

/// Runs any model qkv can run (BERT encoder, GPT-2 or LLaMA decoder) on a text and reports what its
/// heads do. Load once, analyse many texts; thread-safe like the models it wraps.
public final class AttentionAnalyzer: Sendable {
    public let path: String
    public let config: ModelConfig
    public let tokenizer: (any Tokenizer)?
    public let weights: [ModelSummary.Head]
    private let encoder: BertEncoder?
    private let decoder: DecoderModel?

    /// Opens the model at `path` (an encoder or a decoder) and computes its heads' weight norms.
    /// - Parameters:
    ///   - path: the model file or folder.
    ///   - context: the threads and kernels to compute with.
    /// - Throws: what `openWeightFile(path:)` and the model's checks throw; `InferenceError.unsupportedModel`
    ///   for a model qkv cannot run.
    public init(path: String, context: ComputeContext = .default) throws {
        self.path = path
        let file = try ModelFile(try openWeightFile(path: path))
        config = file.config
        if config.isDecoder {
            decoder = try DecoderModel(file, context: context)
            encoder = nil
        } else {
            encoder = try BertEncoder(file, context: context)
            decoder = nil
        }
        tokenizer = try file.tokenizer.map { try makeTokenizer(data: $0, config: file.config) }
        weights = try HeadStatistics.norms(file)
    }

    /// The report for `text`, encoded as the model's tokenizer does (with its special tokens).
    /// - Throws: `InferenceError.noTokenizer` for a file without one; what `analyze(ids:ablate:writes:)` throws.
    public func analyze(_ text: String, ablate: HeadAblation.Mode? = nil, writes: Int? = nil) throws -> AttentionReport {
        guard let tokenizer else { throw InferenceError.noTokenizer(file: path) }
        return try analyze(ids: tokenizer.encode(text), ablate: ablate, writes: writes)
    }

    /// The report for token ids.
    ///
    /// - Parameters:
    ///   - ids: the text as token ids, special tokens included (nothing is added).
    ///   - ablate: also run the model once per head with that head removed, and report each head's effect.
    ///   - writes: also read every head's update through the unembedding, keeping this many tokens each
    ///     way (decoders only: an encoder is refused with `unsupportedModel`).
    public func analyze(ids: [Int], ablate: HeadAblation.Mode? = nil, writes: Int? = nil) throws -> AttentionReport {
        guard !ids.isEmpty else { throw InferenceError.emptyPrompt }
        if writes != nil && decoder == nil {
            throw InferenceError.unsupportedModel(file: path, reason: "the logit lens of --writes needs a decoder; an encoder has no unembedding")
        }
        let record: AttentionRecord
        if let decoder {
            record = try decoder.attention(ids, keepingUpdates: writes != nil)
        } else {
            record = try encoder!.attention(ids)
        }
        var report = AttentionReport(modelPath: path, config: config, tokenIDs: ids, tokens: labels(ids), record: record,
                                     profiles: record.headProfiles(), weights: weights)
        if let ablate {
            report.ablation = try decoder?.ablationEffects(ids, mode: ablate) ?? encoder!.ablationEffects(ids, mode: ablate)
        }
        if let writes, let decoder {
            let lens = decoder.headWrites(record, top: writes)
            report.writes = lens
            let written = Array(Set(lens.ids.map(Int.init))).sorted()
            report.writeLabels = Dictionary(uniqueKeysWithValues: zip(written, labels(written)))
        }
        return report
    }

    /// Display text of each token.
    private func labels(_ ids: [Int]) -> [String] {
        guard let tokenizer else { return ids.map(String.init) }
        if tokenizer is WordPieceTokenizer { return tokenizer.tokens(ids) }
        let stored = tokenizer.tokens(ids)
        return ids.indices.map { i in
            let text = tokenizer.decode([ids[i]])
            return text.isEmpty || text == "\u{FFFD}" ? stored[i] : text
        }
    }
}
