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
    /// A token type id outside the model's token type table (0 is always allowed).
    case tokenTypeOutOfRange(type: Int, typeCount: Int)
    /// Reranking needs a model with a classification head of one output (`config.label_count`).
    case notAReranker(file: String, labelCount: Int)
    /// The model's tokenizer has no pair template (a decoder's BPE), so (query, document) pairs cannot be encoded.
    case noPairTemplate(file: String, kind: String)
    /// A segment of a `DecoderBatch` step with no tokens (`segment`: its index in the step).
    case emptySegment(segment: Int)
    /// A sequence given a second segment in one `DecoderBatch` step (`segment`: the second's index): its
    /// tokens would be appended to one cache twice at the same positions.
    case sequenceRepeated(segment: Int)
    /// A `DecoderBatch` step of more sequences or tokens than its workspace holds.
    case batchTooLarge(sequences: Int, tokens: Int, maxSequences: Int, maxTokens: Int)

    public var description: String {
        switch self {
        case let .unsupportedModel(file, reason): "\(file): cannot run this model: \(reason)"
        case let .noTokenizer(file): "\(file): the model file carries no tokenizer, so text cannot be encoded"
        case let .sequenceTooLong(tokens, maxPositions): "a sequence of \(tokens) tokens is longer than the model's \(maxPositions) positions"
        case let .tokenOutOfRange(id, vocabSize): "token id \(id) is outside the vocabulary (0..<\(vocabSize))"
        case .emptyPrompt: "the prompt has no tokens; give some text (or a model whose tokenizer adds a start token)"
        case let .tokenTypeOutOfRange(type, count): "token type \(type) is outside the model's \(count) token types"
        case let .notAReranker(file, count):
            count == 0 ? "\(file): the model has no classification head (config.label_count), so it cannot score pairs; rerank takes a cross-encoder"
                : "\(file): the classification head has \(count) outputs; reranking takes one relevance score per pair (label_count 1)"
        case let .noPairTemplate(file, kind): "\(file): its '\(kind)' tokenizer has no template for (query, document) pairs"
        case let .emptySegment(segment): "segment \(segment) of the batch step has no tokens"
        case let .sequenceRepeated(segment): "segment \(segment) of the batch step is for a sequence an earlier segment already extends"
        case let .batchTooLarge(sequences, tokens, maxSequences, maxTokens):
            "a batch step of \(sequences) sequences and \(tokens) tokens is larger than the batch's \(maxSequences) sequences and \(maxTokens) tokens"
        case let .unknownPromptName(file, name, known):
            known.isEmpty ? "\(file): the model has no prompts, so none is named '\(name)'"
                : "\(file): the model has no prompt named '\(name)'; its prompts are \(known.map { "'\($0)'" }.joined(separator: ", "))"
        }
    }
}
