import QKVFormat

/// Turns text into token ids and back, as the model's own tokenizer does.
public protocol Tokenizer: Sendable {
    /// The ids for `text`, with the special tokens the model expects and truncated to its maximum length.
    func encode(_ text: String) -> [Int]
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
        }
    }
}
