import QKVSchema

/// Turns text into token ids and back, as the model's own tokenizer does.
public protocol Tokenizer: Sendable {
    /// The ids for `text`, with the special tokens the model expects and truncated to its maximum length.
    func encode(_ text: String) -> [Int]
    /// The ids for `text`, with or without the special tokens the model wraps input in (BOS, `[CLS]`,
    /// ...), as Hugging Face's `add_special_tokens`; special tokens typed in the text are recognised
    /// either way.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// The text of `ids`, as Hugging Face's `decode(ids, skip_special_tokens=True)`: special tokens
    /// left out, ids outside the vocabulary ignored, invalid UTF-8 shown as U+FFFD.
    func decode(_ ids: [Int]) -> String
    /// The token strings of `ids`, for display.
    func tokens(_ ids: [Int]) -> [String]
}

/// Why a tokenizer cannot be built from a model file's tokenizer data and config.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The tokenizer data is of another kind than this tokenizer reads.
    case wrongKind(expected: TokenizerData.Kind, found: TokenizerData.Kind)
    /// The config names no id for a special token this tokenizer needs.
    case missingSpecialToken(ModelConfig.SpecialToken)
    /// A special token id names no token of the vocabulary.
    case specialTokenOutOfRange(ModelConfig.SpecialToken, id: Int, tokenCount: Int)
    /// A `tokenizer.*` option holds a value of the wrong type or out of range.
    case invalidOption(key: String, value: String, reason: String)
    /// A `tokenizer.*` array this tokenizer needs is absent (BPE without merges, SentencePiece BPE
    /// with neither merges nor scores).
    case missingArray(key: String)
    /// Entry `index` of `tokenizer.merges` is not a merge of two vocabulary tokens into a third.
    case invalidMerge(index: Int, merge: String, reason: String)

    public var description: String {
        switch self {
        case let .wrongKind(expected, found):
            "the tokenizer data is '\(found.rawValue)', expected '\(expected.rawValue)'"
        case let .missingSpecialToken(token):
            "the config has no '\(token.key)', which the tokenizer needs"
        case let .specialTokenOutOfRange(token, id, count):
            "'\(token.key)' = \(id) is not a token id (the tokenizer has \(count) tokens)"
        case let .invalidOption(key, value, reason):
            "tokenizer option '\(key)' = \(value) is invalid: \(reason)"
        case let .missingArray(key):
            "the tokenizer data has no '\(key)', which the tokenizer needs"
        case let .invalidMerge(index, merge, reason):
            "tokenizer.merges[\(index)] = '\(merge)' is invalid: \(reason)"
        }
    }
}
