import Foundation
import QKVFormat
import QKVTokenizers

/// A cross-encoder: an encoder with a sequence classification head that scores a pair of texts read
/// together (Hugging Face's `BertForSequenceClassification` and `XLMRobertaForSequenceClassification`),
/// as sentence-transformers' `CrossEncoder.predict` computes it.
///
/// The head reads the `[CLS]` (`<s>`) vector: BERT's pooler and RoBERTa's `classifier.dense` are the same
/// tanh(W h + b), stored as the schema's pooler; then the classifier's W h + b, then the activation the
/// model's sentence-transformers config names (`config.label_activation`).
public final class CrossEncoder: Sendable {
    public let path: String
    public let encoder: BertEncoder
    public let tokenizer: any PairTokenizer
    let pooler: (weight: FloatWeight, bias: FloatWeight)       // [D, D], [D]
    let classifier: (weight: FloatWeight, bias: FloatWeight)   // [labels, D], [labels]
    let activation: ModelConfig.Dense.Activation

    /// Opens the reranker at `path`: any container qkv reads, a Hugging Face folder or an `org/name` in the
    /// Hugging Face cache.
    /// - Parameters:
    ///   - path: the model file or folder.
    ///   - activations: what the encoder's products multiply (`BertEncoder.init(_:activations:context:)`).
    ///   - context: the threads and kernels to compute with.
    /// - Throws: the container's and the schema's errors for a file qkv cannot read, and what
    ///   `init(_:path:activations:context:)` throws for a model that is not a reranker.
    public convenience init(path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        try self.init(try ModelFile(try openWeightFile(path: path)), path: path, activations: activations, context: context)
    }

    /// A cross-encoder of a model file already open; `path` as the user named it, for messages.
    /// - Throws: `InferenceError.notAReranker` unless the file has a head of one output,
    ///   `.noTokenizer`/`.noPairTemplate` unless its tokenizer writes pairs.
    public init(_ model: ModelFile, path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        self.path = path
        let config = model.config
        guard config.labelCount == 1, let activation = config.labelActivation else {
            throw InferenceError.notAReranker(file: path, labelCount: config.labelCount)
        }
        self.activation = activation
        encoder = try BertEncoder(model, activations: activations, context: context)
        guard let data = model.tokenizer else { throw InferenceError.noTokenizer(file: path) }
        guard let pairs = try makeTokenizer(data: data, config: config) as? any PairTokenizer, pairs.writesPairs else {
            throw InferenceError.noPairTemplate(file: path, kind: data.kind.rawValue)
        }
        tokenizer = pairs
        let file = model.file
        pooler = (try FloatWeight(file, TensorRole.pooler.tensorName()), try FloatWeight(file, TensorRole.pooler.tensorName(bias: true)))
        classifier = (try FloatWeight(file, TensorRole.classifier.tensorName()), try FloatWeight(file, TensorRole.classifier.tensorName(bias: true)))
    }

    /// The score of each pair of token ids with their token types (the head's one output, after the activation).
    /// - Parameter pairs: each pair as its tokenizer's `encodePair` makes it: ids and token types of one length.
    /// - Returns: one score per pair, in order.
    /// - Throws: `InferenceError` for an id or token type out of range, or a pair longer than the model's positions.
    public func scores(pairs: [(ids: [Int], typeIDs: [Int])]) throws(InferenceError) -> [Float] {
        let D = encoder.config.modelDim
        return try encoder.withHiddenStates(pairs.map(\.ids), tokenTypes: pairs.map(\.typeIDs)) { states, offsets in
            pairs.indices.map { s in
                var pooled = [Float](repeating: 0, count: D), score: Float = 0
                pooled.withUnsafeMutableBufferPointer { pooled in
                    // h_[CLS] -> tanh(W_p h + b_p) -> W_c · + b_c -> activation
                    denseModule(states + offsets[s] * D, pooler.weight.pointer, pooler.bias.pointer, inputs: D, outputs: D,
                                activation: .tanh, into: pooled.baseAddress!)
                    denseModule(pooled.baseAddress!, classifier.weight.pointer, classifier.bias.pointer, inputs: D, outputs: 1,
                                activation: activation, into: &score)
                }
                return score
            }
        }
    }

    /// The score of `query` with each document, `batchSize` pairs at a time.
    ///
    /// Each pair is tokenized as the model was trained on it (`[CLS] query [SEP] document [SEP]`, or the
    /// `<s> … </s></s> … </s>` of RoBERTa and XLM-RoBERTa) and cut to the model's maximum length as tokenizers'
    /// `longest_first` cuts pairs.
    /// - Parameters:
    ///   - query: the text every document is scored against.
    ///   - documents: the texts to score, in any number: they run `batchSize` at a time.
    ///   - batchSize: pairs per forward pass (packed, so their lengths need not match).
    /// - Returns: one score per document, in order; higher is more relevant.
    /// - Throws: `InferenceError` from the forward pass.
    public func scores(query: String, documents: [String], batchSize: Int = 32) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(documents.count)
        var start = 0
        while start < documents.count {
            let batch = documents[start..<min(start + max(batchSize, 1), documents.count)]
            out += try scores(pairs: batch.map { tokenizer.encodePair(query, $0) })
            start += batch.count
        }
        return out
    }

    /// The documents' indices, most relevant first (ties keep document order), with their scores; at
    /// most `topN` of them.
    public func rank(query: String, documents: [String], topN: Int? = nil, batchSize: Int = 32) throws -> [(index: Int, score: Float)] {
        let ranked = Self.ranked(try scores(query: query, documents: documents, batchSize: batchSize))
        return Array(ranked.prefix(topN ?? ranked.count))
    }

    /// Every document's index with its score, most relevant first; ties keep document order.
    public static func ranked(_ scores: [Float]) -> [(index: Int, score: Float)] {
        scores.enumerated().map { (index: $0.offset, score: $0.element) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
    }
}
