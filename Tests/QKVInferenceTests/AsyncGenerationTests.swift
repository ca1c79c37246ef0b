import Foundation
import Synchronization
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The asynchronous entry points: the same tokens and text as the synchronous ones, and a consumer
/// that stops early stops the generation.
final class AsyncGenerationTests: XCTestCase {
    func model() throws -> LanguageModel {
        try LanguageModel(path: TestFiles.root.appendingPathComponent("Fixtures/hf/llama-tiny").path)
    }

    func testStream_yieldsTheTokensAndTextOfGenerate() async throws {
        let model = try model()
        let prompt = try model.encode("hello world")
        var tokens: [Int] = [], text = ""
        _ = try model.generate(prompt: prompt, maxTokens: 20, stopAtEndOfText: false, onToken: { tokens.append($0) }, onText: { text += $0 })
        var streamedTokens: [Int] = [], streamedText = ""
        for try await piece in model.stream(prompt: prompt, maxTokens: 20, stopAtEndOfText: false) {
            streamedTokens += piece.tokens
            streamedText += piece.text
        }
        XCTAssertEqual(streamedTokens, tokens)
        XCTAssertEqual(streamedText, text)
    }

    /// Leaving a `for try await` over the stream (which then goes away) stops the generation.
    func testStream_leavingTheLoopEarly_stopsTheGeneration() async throws {
        let model = try model()
        let done = expectation(description: "the generating thread ends")
        let generated = Box()
        var pieces = 0
        for try await _ in model.stream(prompt: try model.encode("hello"), maxTokens: 100, sampling: .greedy, stopAtEndOfText: false,
                                        finished: { stats in generated.value.store(stats?.generatedTokens ?? -1, ordering: .relaxed); done.fulfill() }) {
            pieces += 1
            if pieces == 2 { break }
        }
        await fulfillment(of: [done], timeout: 30)
        XCTAssertGreaterThanOrEqual(generated.value.load(ordering: .relaxed), 2)
        XCTAssertLessThan(generated.value.load(ordering: .relaxed), 100, "the generation went on after its consumer left")
    }

    /// Cancelling the task that iterates stops the generation at the token in hand, observed rather than
    /// timed: the generating thread is held after its third token until the cancelled consumer's loop has
    /// ended (by then the stream's termination handler has run: it runs before the iteration gets its
    /// end), then let go. It must make no fourth token and no further forward pass, and return.
    func testStream_cancellingTheConsumingTask_noTokenAfterTheOneInHand() async throws {
        let model = try model()
        let held = DispatchSemaphore(value: 0)
        defer { held.signal() }   // never leave the thread held if an await below fails
        let third = expectation(description: "the third token was made")
        let done = expectation(description: "generate returned")
        let made = Box(), generated = Box(), decodeSteps = Box()
        let stream = model.stream(prompt: try model.encode("hello"), maxTokens: 100, sampling: .greedy, stopAtEndOfText: false,
                                  afterToken: { count in
                                      made.value.store(count, ordering: .relaxed)
                                      if count == 3 { third.fulfill(); held.wait() }
                                  },
                                  finished: { stats in
                                      generated.value.store(stats?.generatedTokens ?? -1, ordering: .relaxed)
                                      decodeSteps.value.store(stats?.decodeSteps ?? -1, ordering: .relaxed)
                                      done.fulfill()
                                  })
        let consumer = Task { for try await _ in stream {} }
        await fulfillment(of: [third], timeout: 60)
        consumer.cancel()
        try await consumer.value
        held.signal()
        await fulfillment(of: [done], timeout: 60)
        XCTAssertEqual(made.value.load(ordering: .relaxed), 3, "a token was made after the consumer was cancelled")
        XCTAssertEqual(generated.value.load(ordering: .relaxed), 3)
        // Prompt, then one decode step after each of the first two tokens: none after the third.
        XCTAssertEqual(decodeSteps.value.load(ordering: .relaxed), 2)
    }

    /// The same without a cancelled task: held the same way, the generation runs to `maxTokens`, so the
    /// test above fails if cancelling did nothing.
    func testStream_heldButNotCancelled_runsToMaxTokens() async throws {
        let model = try model()
        let held = DispatchSemaphore(value: 0)
        defer { held.signal() }
        let third = expectation(description: "the third token was made")
        let done = expectation(description: "generate returned")
        let generated = Box()
        let stream = model.stream(prompt: try model.encode("hello"), maxTokens: 10, sampling: .greedy, stopAtEndOfText: false,
                                  afterToken: { count in if count == 3 { third.fulfill(); held.wait() } },
                                  finished: { stats in generated.value.store(stats?.generatedTokens ?? -1, ordering: .relaxed); done.fulfill() })
        let consumer = Task { for try await _ in stream {} }
        await fulfillment(of: [third], timeout: 60)
        held.signal()
        try await consumer.value
        await fulfillment(of: [done], timeout: 60)
        XCTAssertEqual(generated.value.load(ordering: .relaxed), 10)
    }

    /// Cancelling the task that iterates stops the generation. The real Gemma 3 (tens of tokens a second
    /// here): the tiny fixtures would finish all their tokens before the cancellation could arrive.
    func testStream_cancellingTheConsumingTask_stopsTheGeneration() async throws {
        let model = try LanguageModel(path: TestFiles.modelPath("QKV_MODELS:gemma3/gemma-3-270m-q4_k_m.gguf"))
        let done = expectation(description: "the generating thread ends")
        let generated = Box()
        let started = expectation(description: "a first piece arrived")
        let stream = model.stream(prompt: try model.encode("Tell me a long story."), maxTokens: 2000, sampling: .greedy, stopAtEndOfText: false,
                                  finished: { stats in generated.value.store(stats?.generatedTokens ?? -1, ordering: .relaxed); done.fulfill() })
        let consumer = Task {
            var first = true
            for try await _ in stream where first {
                started.fulfill()
                first = false
            }
        }
        await fulfillment(of: [started], timeout: 120)
        consumer.cancel()
        await fulfillment(of: [done], timeout: 120)
        XCTAssertLessThan(generated.value.load(ordering: .relaxed), 2000, "the generation went on after its task was cancelled")
    }

    func testEmbedAsync_equalsEmbed() async throws {
        let embedder = try SentenceEmbedder(path: TestFiles.root.appendingPathComponent("Fixtures/hf/bert-tiny").path)
        let texts = ["a short sentence", "another one, a little longer than the first"]
        let sync = try { () throws -> [[Float]] in try embedder.embed(texts) }()
        let async: [[Float]] = try await embedder.embed(texts)
        XCTAssertEqual(async, sync)
    }

    func testEmbedAsync_takesThePromptAsEmbedDoes() async throws {
        let embedder = try SentenceEmbedder(path: TestFiles.root.appendingPathComponent("Fixtures/hf/bert-tiny").path)
        let texts = ["a short sentence"]
        let prompted = try { () throws -> [[Float]] in try embedder.embed(texts, prompt: .text("query: ")) }()
        let plain = try { () throws -> [[Float]] in try embedder.embed(texts) }()
        let async: [[Float]] = try await embedder.embed(texts, prompt: .text("query: "))
        XCTAssertEqual(async, prompted)
        XCTAssertNotEqual(async, plain, "the prompt changed nothing: the test cannot tell it was passed")
    }
}

/// Written by the generating thread before it fulfils the expectation the test waits on, read after.
final class Box: Sendable {
    let value = Atomic(0)
}
