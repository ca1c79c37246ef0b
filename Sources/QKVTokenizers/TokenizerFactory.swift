import QKVFormat

/// The tokenizer a model file's tokenizer data calls for: `wordpiece` -> `WordPieceTokenizer`, `bpe`
/// -> `ByteLevelBPETokenizer`, `sentencepiece_bpe` -> `SentencePieceBPETokenizer`.
///
/// The one place that maps `TokenizerData.Kind` to a type, so callers (`qkv embed`, the decoders) take
/// whatever the file carries without switching on the kind themselves.
/// - Throws: what the chosen tokenizer's initializer throws.
public func makeTokenizer(data: TokenizerData, config: ModelConfig) throws(TokenizerError) -> any Tokenizer {
    switch data.kind {
    case .wordpiece: try WordPieceTokenizer(data: data, config: config)
    case .bpe: try ByteLevelBPETokenizer(data: data, config: config)
    case .sentencepieceBPE: try SentencePieceBPETokenizer(data: data, config: config)
    }
}
