import QKVFormat
import QKVTokenizers

/// Sentence embeddings from a BERT-style model file (`.qkv`, HDF5, safetensors, GGUF or a Hugging Face
/// folder): load once, embed many texts. Thread-safe: `embed` only reads the model.
public final class SentenceEmbedder: Sendable {
    public let path: String
    public let encoder: BertEncoder
    /// The model file's tokenizer (WordPiece for BERT, Unigram for XLM-RoBERTa).
    public let tokenizer: any Tokenizer
    /// sentence-transformers' prompts the model file carries (`tokenizer.prompts`), in file order.
    public let prompts: [(name: String, text: String)]
    /// The prompt put before every input when none is asked for (`tokenizer.default_prompt_name`).
    public let defaultPromptName: String?

    /// Which prompt goes before each input (sentence-transformers' `encode(prompt_name=, prompt=)`).
    public enum Prompt: Sendable, Equatable {
        /// The model's default prompt, if it names one; else none.
        case modelDefault
        /// One of the model's prompts, by name.
        case named(String)
        /// This text (an empty one overrides the default).
        case text(String)
    }

    /// Opens the embedder at `path`: any container qkv reads, a Hugging Face or sentence-transformers
    /// folder, or an `org/name` in the Hugging Face cache.
    /// - Parameters:
    ///   - path: the model file or folder.
    ///   - activations: what the encoder's products multiply (`BertEncoder.init(_:activations:context:)`).
    ///   - context: the threads and kernels to compute with.
    /// - Throws: the container's and the schema's errors for a file qkv cannot read, and what
    ///   `init(_:path:activations:context:)` throws.
    public convenience init(path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        try self.init(try ModelFile(try openWeightFile(path: path)), path: path, activations: activations, context: context)
    }

    /// An embedder of a model file already open; `path` as the user named it, for messages.
    /// - Throws: `InferenceError.unsupportedModel` for a model the encoder cannot run (a decoder),
    ///   `InferenceError.noTokenizer` for a file without tokenizer data, `TokenizerError` for tokenizer
    ///   data that cannot make a tokenizer.
    public init(_ model: ModelFile, path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        self.path = path
        encoder = try BertEncoder(model, activations: activations, context: context)
        guard let data = model.tokenizer else { throw InferenceError.noTokenizer(file: path) }
        tokenizer = try makeTokenizer(data: data, config: model.config)
        prompts = data.prompts
        defaultPromptName = data.defaultPromptName
    }

    /// The length of every vector (the last Dense module's outputs, else the model width).
    public var dimension: Int { encoder.config.sentenceDimension }

    /// The text `prompt` puts before each input; an unknown name is an error listing the model's prompts.
    /// - Throws: `InferenceError.unknownPromptName` for a name the model does not have.
    public func promptText(_ prompt: Prompt) throws(InferenceError) -> String {
        let name: String
        switch prompt {
        case .text(let text): return text
        case .modelDefault:
            guard let fallback = defaultPromptName else { return "" }
            name = fallback
        case .named(let given): name = given
        }
        guard let found = prompts.first(where: { $0.name == name }) else {
            throw .unknownPromptName(file: path, name: name, known: prompts.map(\.name))
        }
        return found.text
    }

    /// One vector per text, computed `batchSize` texts at a time (packed, so lengths need not match), each
    /// text after `prompt`'s text, as one string (the model's default prompt unless told otherwise).
    ///
    /// A text longer than the model's `max_seq_length` is cut there, as sentence-transformers cuts it.
    /// - Parameters:
    ///   - texts: the texts, each embedded on its own.
    ///   - prompt: the prompt put before each text (sentence-transformers' `prompt_name` or `prompt`).
    ///   - batchSize: texts per forward pass; a larger batch uses more memory, not fewer operations.
    /// - Returns: one vector of `dimension` values per text, in order, pooled and normalized as the
    ///   model's sentence-transformers modules say.
    /// - Throws: `InferenceError.unknownPromptName` for a prompt the model lacks, or an error of the forward pass.
    public func embed(_ texts: [String], prompt: Prompt = .modelDefault, batchSize: Int = 32) throws -> [[Float]] {
        let prefix = try promptText(prompt)
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let batch = texts[start..<min(start + max(batchSize, 1), texts.count)]
            out += try encoder.embed(tokenIDs: batch.map { tokenizer.encode(prefix + $0) })
            start += batch.count
        }
        return out
    }
}

/// Cosine similarity of two vectors, accumulated in f64.
/// - Returns: a·b / (|a| |b|), in [-1, 1]; 0 when either vector is zero.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / max((na * nb).squareRoot(), 1e-30)
}

// A model qkv cannot run is an invalid input (`qkv` exits 1).
extension InferenceError: InvalidInputError {}
