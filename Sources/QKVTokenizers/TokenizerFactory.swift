import QKVFormat

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

/// The tokenizer of what is at `path`: a model file in any format qkv reads, a Hugging Face
/// `tokenizer.json`, or a GGUF without tensors (`TokenizerSource.load`).
/// - Throws: what reading the file throws; `TokenizerFileError` when its tokenizer data cannot make a
///   tokenizer.
public func loadTokenizer(path: String) throws -> any Tokenizer {
    let (data, config) = try TokenizerSource.load(path: path)
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
