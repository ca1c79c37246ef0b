/// Models qkv cannot run, and inputs it cannot take.
public enum InferenceError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedModel(file: String, reason: String)
    case noTokenizer(file: String)
    case sequenceTooLong(tokens: Int, maxPositions: Int)
    case tokenOutOfRange(id: Int, vocabSize: Int)
    /// Generation needs at least one token to start from.
    case emptyPrompt
    /// A prompt name the model file's sentence-transformers prompts do not have; `known` lists them.
    case unknownPromptName(file: String, name: String, known: [String])

    public var description: String {
        switch self {
        case let .unsupportedModel(file, reason): "\(file): cannot run this model: \(reason)"
        case let .noTokenizer(file): "\(file): the model file carries no tokenizer, so text cannot be encoded"
        case let .sequenceTooLong(tokens, maxPositions): "a sequence of \(tokens) tokens is longer than the model's \(maxPositions) positions"
        case let .tokenOutOfRange(id, vocabSize): "token id \(id) is outside the vocabulary (0..<\(vocabSize))"
        case .emptyPrompt: "the prompt has no tokens; give some text (or a model whose tokenizer adds a start token)"
        case let .unknownPromptName(file, name, known):
            known.isEmpty ? "\(file): the model has no prompts, so none is named '\(name)'"
                : "\(file): the model has no prompt named '\(name)'; its prompts are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        }
    }
}
