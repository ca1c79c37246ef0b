import QKVSchema

/// The tokenizer a model file's tokenizer data calls for: `wordpiece` -> `WordPieceTokenizer`, `bpe`
/// -> `ByteLevelBPETokenizer`, `sentencepiece_bpe` -> `SentencePieceBPETokenizer`, `unigram` -> `UnigramTokenizer`.
///
/// The one place that maps `TokenizerData.Kind` to a type, so callers (`qkv embed`, the decoders) take
/// whatever the file carries without switching on the kind themselves.
/// - Parameters:
///   - data: the tokenizer data of a model file (`ModelFile.tokenizer`).
///   - config: the model's config, for its special token ids and maximum length.
/// - Returns: the tokenizer, ready to share between threads.
/// - Throws: what the chosen tokenizer's initializer throws.
public func makeTokenizer(data: TokenizerData, config: ModelConfig) throws(TokenizerError) -> any Tokenizer {
    switch data.kind {
    case .wordpiece: try WordPieceTokenizer(data: data, config: config)
    case .bpe: try ByteLevelBPETokenizer(data: data, config: config)
    case .sentencepieceBPE: try SentencePieceBPETokenizer(data: data, config: config)
    case .unigram: try UnigramTokenizer(data: data, config: config)
    }
}

/// The tokenizer of a Hugging Face `tokenizer.json` (with the `tokenizer_config.json` beside it, if there
/// is one), read without a model: `HFTokenizerImport.standalone`, then `makeTokenizer`. A model file of
/// any format is read by QKVInference's `loadTokenizer(path:)`, which sees the containers.
/// - Throws: what reading the file throws (`ImportError`, `IOError`); `TokenizerFileError` when its
///   tokenizer data cannot make a tokenizer.
public func loadTokenizer(huggingFaceFile path: String) throws -> any Tokenizer {
    let (data, config) = try HFTokenizerImport.standalone(jsonPath: path)
    do {
        return try makeTokenizer(data: data, config: config)
    } catch {
        throw TokenizerFileError(file: path, error: error)
    }
}

/// A file whose tokenizer data cannot make a tokenizer: the file and why.
public struct TokenizerFileError: InvalidInputError, CustomStringConvertible {
    public var file: String
    public var error: TokenizerError
    public var description: String { "\(file): \(error)" }

    public init(file: String, error: TokenizerError) {
        self.file = file
        self.error = error
    }
}

// Tokenizer data that cannot make a tokenizer is an invalid input (`qkv` exits 1).
extension TokenizerError: InvalidInputError {}
