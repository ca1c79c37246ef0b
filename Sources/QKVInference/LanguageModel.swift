import Foundation
import QKVFormat
import QKVTokenizers

/// A decoder model file with its tokenizer: load once, then generate or score text. Thread-safe: the
/// weights are only read, and every call makes its own `DecoderSession`.
public final class LanguageModel: Sendable {
    public let path: String
    public let model: DecoderModel
    /// The tokenizer the file carries; nil when it carries none (then only token ids go in and out).
    public let tokenizer: (any Tokenizer)?

    /// Opens the decoder at `path`: any container qkv reads, a Hugging Face folder or an `org/name` in the
    /// Hugging Face cache.
    /// - Parameters:
    ///   - path: the model file or folder.
    ///   - activations: what the products of reduced-precision weights multiply (`ActivationPrecision`).
    ///   - context: the threads and kernels to compute with.
    /// - Throws: the container's and the schema's errors for a file qkv cannot read, and what
    ///   `init(_:path:activations:context:)` throws.
    public convenience init(path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        try self.init(try ModelFile(try openWeightFile(path: path)), path: path, activations: activations, context: context)
    }

    /// A language model of a model file already open; `path` as the user named it, for messages.
    /// - Throws: `InferenceError.unsupportedModel` for a model the decoder cannot run (an encoder),
    ///   `TokenizerError` for tokenizer data that cannot make a tokenizer.
    public init(_ file: ModelFile, path: String, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        self.path = path
        model = try DecoderModel(file, activations: activations, context: context)
        tokenizer = try file.tokenizer.map { try makeTokenizer(data: $0, config: file.config) }
    }

    /// The ids of `text` as the model's tokenizer makes them (with the start token the model expects).
    /// - Throws: `InferenceError.noTokenizer` when the file carries no tokenizer.
    public func encode(_ text: String) throws(InferenceError) -> [Int] {
        guard let tokenizer else { throw .noTokenizer(file: path) }
        return tokenizer.encode(text)
    }

    /// Generates after `prompt` as `DecoderModel.generate` does and hands `onText` the text of each new
    /// token as soon as it is complete: bytes of a character split over several tokens wait for the
    /// rest, and the text is decoded in the context of the prompt, so word-start spaces come out right.
    /// - Parameters:
    ///   - prompt: the prompt's token ids (`encode(_:)`), at least one.
    ///   - maxTokens: the most tokens to generate; the model's context also ends a generation.
    ///   - sampling: greedy unless told otherwise.
    ///   - stopAtEndOfText: stop at the model's end-of-text token.
    ///   - onToken: each token id as it is chosen, the end-of-text token included.
    ///   - onText: each new piece of text, on the calling thread.
    /// - Returns: the token counts and timings of the prompt and of the decode steps.
    /// - Throws: `InferenceError.emptyPrompt`, or `.tokenOutOfRange` for a prompt id outside the vocabulary.
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .greedy, stopAtEndOfText: Bool = true,
                         onToken: (Int) -> Void = { _ in }, onText: (String) -> Void) throws(InferenceError) -> GenerationStats {
        try generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: stopAtEndOfText, onToken: onToken,
                     shouldContinue: { onText($0); return true })
    }

    /// `generate(prompt:...onText:)` that stops when `shouldContinue` returns false for a piece of text
    /// (a stop sequence seen, a client gone).
    /// - Parameters:
    ///   - prompt: the prompt's token ids (`encode(_:)`), at least one.
    ///   - maxTokens: the most tokens to generate; the model's context also ends a generation.
    ///   - sampling: greedy unless told otherwise.
    ///   - stopAtEndOfText: stop at the model's end-of-text token.
    ///   - onToken: each token id as it is chosen, the end-of-text token included.
    ///   - shouldContinue: gets each new piece of text; false ends the generation before the next
    ///     forward pass.
    /// - Returns: the token counts and timings; `generatedTokens` counts the token that stopped it.
    /// - Throws: `InferenceError.emptyPrompt`, or `.tokenOutOfRange` for a prompt id outside the vocabulary.
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .greedy, stopAtEndOfText: Bool = true,
                         onToken: (Int) -> Void = { _ in }, shouldContinue: (String) -> Bool) throws(InferenceError) -> GenerationStats {
        var text = tokenizer.map { GeneratedText(tokenizer: $0, prompt: prompt) }
        return try model.generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: stopAtEndOfText) { token in
            onToken(token)
            guard let piece = text?.append(token), !piece.isEmpty else { return true }
            return shouldContinue(piece)
        }
    }

    /// Each token's log-probability given the tokens before it (the first token has none), and the
    /// text of each token for display. `oneTokenAtATime`: through decode steps, as generation computes
    /// them (`DecoderModel.logProbabilities`).
    /// - Parameters:
    ///   - ids: the text's token ids, its start token included if it has one.
    ///   - oneTokenAtATime: score through decode steps instead of one pass per window.
    /// - Returns: `ids.count - 1` log-probabilities in nats (of the second token on), and each token's text.
    /// - Throws: `InferenceError.tokenOutOfRange` for an id outside the vocabulary.
    public func score(_ ids: [Int], oneTokenAtATime: Bool = false) throws(InferenceError) -> (logProbabilities: [Double], pieces: [String]) {
        let logProbabilities = try model.logProbabilities(ids, oneTokenAtATime: oneTokenAtATime)
        let pieces = ids.map { id in tokenizer?.decode([id]) ?? String(id) }
        return (logProbabilities, pieces)
    }
}

/// The text of a generation as it grows, a whole character at a time: bytes of a character split over
/// several tokens wait for the rest, and the text is decoded in the context of the prompt, so word-start
/// spaces come out right.
public struct GeneratedText {
    let tokenizer: any Tokenizer
    private var ids: [Int]
    /// What has been handed out, compared as scalars, not Characters: a combining mark joins the
    /// previous Character.
    private var emitted: [Unicode.Scalar]

    public init(tokenizer: any Tokenizer, prompt: [Int]) {
        self.tokenizer = tokenizer
        ids = prompt
        emitted = Array(tokenizer.decode(prompt).unicodeScalars)
    }

    /// The new text `token` completes ("" while a character is incomplete).
    public mutating func append(_ token: Int) -> String {
        ids.append(token)
        let text = Array(tokenizer.decode(ids).unicodeScalars)
        guard text.last != "\u{FFFD}" else { return "" }   // wait for the rest of the character
        // Normally the old text is a prefix; if decoding changed it (clean-up rules), hand out from where
        // the two part, since what is handed out cannot be taken back.
        var common = 0
        while common < min(text.count, emitted.count) && text[common] == emitted[common] { common += 1 }
        emitted = text
        guard text.count > common else { return "" }
        var piece = String.UnicodeScalarView()
        piece.append(contentsOf: text[common...])
        return String(piece)
    }
}
