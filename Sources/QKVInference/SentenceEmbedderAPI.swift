import QKVFormat
import QKVTokenizers

/// Sentence embeddings from a BERT-style model file (`.qkv`, HDF5, safetensors, GGUF or a Hugging Face
/// folder): load once, embed many texts. Thread-safe: `embed` only reads the model.
public final class SentenceEmbedder: @unchecked Sendable {
    public let path: String
    public let encoder: BertEncoder
    public let tokenizer: WordPieceTokenizer

    public convenience init(path: String) throws {
        try self.init(try ModelFile(try openWeightFile(path: path)), path: path)
    }

    /// An embedder of a model file already open; `path` as the user named it, for messages.
    public init(_ model: ModelFile, path: String) throws {
        self.path = path
        encoder = try BertEncoder(model)
        guard let data = model.tokenizer else { throw InferenceError.noTokenizer(file: path) }
        tokenizer = try WordPieceTokenizer(data: data, config: model.config)
    }

    /// The length of every vector.
    public var dimension: Int { encoder.config.modelDim }

    /// One vector per text, computed `batchSize` texts at a time (packed, so lengths need not match).
    public func embed(_ texts: [String], batchSize: Int = 32) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let batch = texts[start..<min(start + max(batchSize, 1), texts.count)]
            out += try encoder.embed(tokenIDs: batch.map { tokenizer.encode($0) })
            start += batch.count
        }
        return out
    }
}

/// Cosine similarity of two vectors, accumulated in f64.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / max((na * nb).squareRoot(), 1e-30)
}

// A model qkv cannot run, or whose tokenizer data is wrong, is an invalid input (`qkv` exits 1).
extension InferenceError: InvalidInputError {}
extension TokenizerError: InvalidInputError {}
