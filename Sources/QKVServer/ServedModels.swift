import Foundation
import QKVFormat
import QKVInference
import QKVTokenizers

/// The models one server answers for, each under its name (the request's `model` field).
public struct ServedModel: Sendable {
    public enum Kind: Sendable {
        /// An encoder: `/v1/embeddings`.
        case embedding(SentenceEmbedder)
        /// A decoder: `/v1/completions`.
        case generation(LanguageModel)
    }

    public let name: String
    public let path: String
    public let kind: Kind
    /// When the file was opened, for `/v1/models`' `created`.
    public let loaded: Date

    /// Opens `path` as whatever it holds: an encoder serves embeddings, a decoder completions.
    public init(name: String, path: String) throws {
        self.name = name
        self.path = path
        let file = try ModelFile(try openWeightFile(path: path))
        kind = file.config.isDecoder ? .generation(try LanguageModel(path: path)) : .embedding(try SentenceEmbedder(path: path))
        loaded = Date()
    }

    /// The name a model is served under when none is given: its file's or folder's name without the
    /// extension (`gemma-3-270m-q4_k_m` for `.../gemma-3-270m-q4_k_m.gguf`).
    public static func defaultName(for path: String) -> String {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        let base = (trimmed as NSString).lastPathComponent
        for suffix in [".gguf", ".qkv", ".h5", ".hdf5", ".safetensors", ".bin"] where base.hasSuffix(suffix) {
            return String(base.dropLast(suffix.count))
        }
        return base
    }

    /// The tokenizer of either kind, for `/tokenize` and `/detokenize`.
    var tokenizer: (any Tokenizer)? {
        switch kind {
        case .embedding(let embedder): embedder.tokenizer
        case .generation(let model): model.tokenizer
        }
    }

    /// Tokens a request may span: the model's positions.
    var contextLength: Int {
        switch kind {
        case .embedding(let embedder): embedder.encoder.config.maxPositions
        case .generation(let model): model.model.config.maxPositions
        }
    }
}
