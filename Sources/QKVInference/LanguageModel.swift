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

    /// `activations`: what one-token products of block-quantized weights multiply (`ActivationPrecision`).
    public convenience init(path: String, activations: ActivationPrecision = .f32) throws {
        try self.init(try ModelFile(try openWeightFile(path: path)), path: path, activations: activations)
    }

    /// A language model of a model file already open; `path` as the user named it, for messages.
    public init(_ file: ModelFile, path: String, activations: ActivationPrecision = .f32) throws {
        self.path = path
        model = try DecoderModel(file, activations: activations)
        tokenizer = try file.tokenizer.map { try makeTokenizer(data: $0, config: file.config) }
    }

    /// The ids of `text` as the model's tokenizer makes them (with the start token the model expects).
    public func encode(_ text: String) throws(InferenceError) -> [Int] {
        guard let tokenizer else { throw .noTokenizer(file: path) }
        return tokenizer.encode(text)
    }

    /// Generates after `prompt` as `DecoderModel.generate` does and hands `onText` the text of each new
    /// token as soon as it is complete: bytes of a character split over several tokens wait for the
    /// rest, and the text is decoded in the context of the prompt, so word-start spaces come out right.
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .greedy, stopAtEndOfText: Bool = true,
                         onToken: (Int) -> Void = { _ in }, onText: (String) -> Void) throws(InferenceError) -> GenerationStats {
        try generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: stopAtEndOfText, onToken: onToken,
                     shouldContinue: { onText($0); return true })
    }

    /// `generate(prompt:...onText:)` that stops when `shouldContinue` returns false for a piece of text
    /// (a stop sequence seen, a client gone).
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
