import Foundation
import Synchronization

extension LanguageModel {
    /// New text and the tokens that made it: what `stream` yields.
    public struct GeneratedPiece: Sendable {
        /// Complete characters (empty for tokens that end inside a character, or without a tokenizer).
        public let text: String
        /// The token ids that made `text` (several when a character was split over them; the last piece
        /// may carry tokens and no text).
        public let tokens: [Int]
    }

    /// `generate` as an asynchronous sequence: the forward passes run on a thread of their own (they
    /// are synchronous and as wide as the machine), and each new piece of text comes out as soon as it
    /// is complete. Cancelling the task that iterates, or leaving the loop and dropping the stream (as
    /// `for try await piece in model.stream(...)` does), stops the generation before its next token.
    ///
    /// ```swift
    /// for try await piece in model.stream(prompt: try model.encode("Once"), maxTokens: 50) { print(piece.text, terminator: "") }
    /// ```
    ///
    /// Pieces made before the consumer stops are buffered, so a cancelled loop may still see a few before it
    /// ends; the loop ends without an error.
    /// - Parameters:
    ///   - prompt: the prompt's token ids (`encode(_:)`), at least one.
    ///   - maxTokens: the most tokens to generate.
    ///   - sampling: greedy unless told otherwise.
    ///   - stopAtEndOfText: stop at the model's end-of-text token (its id comes in a piece with no text).
    /// - Returns: the pieces as they come; the stream throws the model's `InferenceError` if a forward pass fails.
    public func stream(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .greedy,
                       stopAtEndOfText: Bool = true) -> AsyncThrowingStream<GeneratedPiece, Error> {
        stream(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: stopAtEndOfText, afterToken: nil, finished: nil)
    }

    /// `stream` with two points where a test observes the generating thread: `afterToken` gets the count
    /// of tokens made so far, after each token is handed on and before the thread asks whether to go on;
    /// `finished` gets the generation's statistics (nil after an error) once `generate` has returned.
    func stream(prompt: [Int], maxTokens: Int, sampling: SamplingOptions, stopAtEndOfText: Bool,
                afterToken: (@Sendable (Int) -> Void)? = nil,
                finished: (@Sendable (GenerationStats?) -> Void)?) -> AsyncThrowingStream<GeneratedPiece, Error> {
        let (stream, continuation) = AsyncThrowingStream<GeneratedPiece, Error>.makeStream()
        let stopped = StopSignal()
        continuation.onTermination = { _ in stopped.raise() }
        let thread = Thread { [self] in
            var text = tokenizer.map { GeneratedText(tokenizer: $0, prompt: prompt) }
            var tokens: [Int] = []
            var made = 0
            do {
                let stats = try model.generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopAtEndOfText: stopAtEndOfText) { token in
                    tokens.append(token)
                    let piece = text?.append(token) ?? ""
                    if !piece.isEmpty || text == nil {
                        continuation.yield(GeneratedPiece(text: piece, tokens: tokens))
                        tokens.removeAll()
                    }
                    made += 1
                    afterToken?(made)
                    return !stopped.isRaised
                }
                if !tokens.isEmpty { continuation.yield(GeneratedPiece(text: "", tokens: tokens)) }
                continuation.finish()
                finished?(stats)
            } catch {
                continuation.finish(throwing: error)
                finished?(nil)
            }
        }
        thread.name = "qkv-generate"
        thread.start()
        return stream
    }
}

extension SentenceEmbedder {
    /// `embed(_:prompt:batchSize:)` without blocking the caller's task: the forward passes run on a thread
    /// of their own.
    ///
    /// Swift picks this overload in an asynchronous context: write `try await embedder.embed(texts)` there.
    /// - Parameters:
    ///   - texts: the texts, each embedded on its own.
    ///   - prompt: the prompt put before each text (the model's default unless told otherwise).
    ///   - batchSize: texts per forward pass.
    /// - Returns: one vector per text, in order.
    /// - Throws: what the synchronous `embed` throws.
    public func embed(_ texts: [String], prompt: Prompt = .modelDefault, batchSize: Int = 32) async throws -> [[Float]] {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { [self] in
                continuation.resume(with: Result { try embed(texts, prompt: prompt, batchSize: batchSize) as [[Float]] })
            }
            thread.name = "qkv-embed"
            thread.start()
        }
    }
}

/// Raised once from any thread (a stream's consumer going away), read by the generating one.
public final class StopSignal: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func raise() { raised.store(true, ordering: .relaxed) }
    public var isRaised: Bool { raised.load(ordering: .relaxed) }
}
