import Foundation
import QKVFormat
import QKVInference
import QKVTemplates
import QKVTokenizers

/// The models one server answers for, each under its name (the request's `model` field).
public struct ServedModel: Sendable {
    public enum Kind: Sendable {
        /// An encoder: `/v1/embeddings`.
        case embedding(SentenceEmbedder)
        /// A decoder: `/v1/completions`.
        case generation(LanguageModel)
        /// An encoder with a classification head of one output (a cross-encoder): `/v1/rerank`.
        case reranking(CrossEncoder)
    }

    public let name: String
    public let path: String
    public let kind: Kind
    /// When the file was opened, for `/v1/models`' `created`.
    public let loaded: Date
    /// The chat template the file carries, parsed (or why it could not be); nil when it carries none.
    let chatTemplate: Result<Template, Error>?
    /// How the model writes tool calls, told by markers in its chat template (generic without one).
    let toolCallFormat: ToolCallFormat
    /// The tokenizer's BOS and EOS strings, which templates read as `bos_token` and `eos_token`.
    let specialTokens: [String: String]

    /// Opens `path` as whatever it holds: an encoder serves embeddings (with a classification head,
    /// reranking), a decoder completions, each computing with `context` and multiplying `activations`
    /// (as `LanguageModel` and `BertEncoder` take them).
    /// - Throws: what opening the file and building its model throw; a chat template that does not parse
    ///   is not an error here, but for the chat requests that need it.
    public init(name: String, path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        self.name = name
        self.path = path
        let file = try ModelFile(try openWeightFile(path: path))
        kind = file.config.isDecoder ? .generation(try LanguageModel(file, path: path, activations: activations, context: context))
            : file.config.labelCount > 0 ? .reranking(try CrossEncoder(file, path: path, activations: activations, context: context))
            : .embedding(try SentenceEmbedder(file, path: path, activations: activations, context: context))
        loaded = Date()
        // The canonical key (Hugging Face imports), else a GGUF's own key kept under provenance.
        let source: String? = if case .string(let text)? = file.tokenizer?.options["tokenizer.chat_template"] { text }
            else if case .string(let text)? = file.file.metadata["provenance.gguf.tokenizer.chat_template"] { text }
            else { nil }
        chatTemplate = source.map { text in Result { try Template(text) } }
        toolCallFormat = ToolCallFormat(template: source ?? "")
        var specials: [String: String] = [:]
        if let tokens = file.tokenizer?.tokens {
            for (token, key) in [(ModelConfig.SpecialToken.bos, "bos_token"), (.eos, "eos_token")] {
                if let id = file.config.specialTokens[token], id >= 0, id < tokens.count { specials[key] = tokens[id] }
            }
        }
        specialTokens = specials
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
        case .reranking(let reranker): reranker.tokenizer
        }
    }

    /// What the model serves, for messages that send a request to the right endpoint.
    var kindDescription: String {
        switch kind {
        case .embedding: "an embedding model (/v1/embeddings)"
        case .generation: "a text generation model (/v1/completions, /v1/chat/completions)"
        case .reranking: "a reranker (/v1/rerank)"
        }
    }

    /// Tokens a request may span: the model's positions.
    var contextLength: Int {
        switch kind {
        case .embedding(let embedder): embedder.encoder.config.maxPositions
        case .generation(let model): model.model.config.maxPositions
        case .reranking(let reranker): reranker.encoder.config.maxPositions
        }
    }
}
