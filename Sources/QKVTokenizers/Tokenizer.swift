import QKVFormat

/// Turns text into token ids and back, as the model's own tokenizer does.
public protocol Tokenizer: Sendable {
    /// The ids for `text`, with the special tokens the model expects and truncated to its maximum length.
    func encode(_ text: String) -> [Int]
    /// The token strings of `ids`, for display.
    func tokens(_ ids: [Int]) -> [String]
}
