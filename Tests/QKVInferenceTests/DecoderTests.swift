import Foundation
import Synchronization
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The decoder's own invariants: the KV cache, chunked prompts, windowed scoring, concurrent use and
/// its errors. (Agreement with transformers is DecoderReferenceTests.)
final class DecoderTests: XCTestCase {
    static let root = TestFiles.root

    func model(_ name: String) throws -> DecoderModel {
        try DecoderModel(try ModelFile(try openWeightFile(path: Self.root.appendingPathComponent("Fixtures/hf/\(name)").path)))
    }

    func ids(_ count: Int, vocabulary: Int, seed: Int = 1) -> [Int] { (0..<count).map { ($0 * 37 + seed * 11 + 3) % vocabulary } }

    /// max |a − b| relative to max |a| (the GPT-2 fixture's logits reach 5e5).
    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        let scale = a.map(abs).max() ?? 1
        return (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / max(scale, 1e-30)
    }

    /// Every position the model has (64 and 128: the prompt's attention runs in blocks of 64 queries).
    func testKVCache_tokenByTokenAndChunkedGiveTheLogitsOfOnePass() throws {
        for name in ["gpt2-tiny", "llama-tiny"] {
            let model = try model(name)
            let tokens = ids(model.config.maxPositions, vocabulary: model.config.vocabSize)
            let whole = try model.forward(tokens, session: model.makeSession(), logits: .all)
            let chunked = try model.forward(tokens, session: model.makeSession(capacity: nil, chunkTokens: 7), logits: .all)
            XCTAssertLessThan(maxDifference(whole, chunked), 1e-6, name)
            let session = model.makeSession()
            var stepwise: [Float] = []
            for token in tokens { stepwise += try model.forward([token], session: session) }
            XCTAssertLessThan(maxDifference(whole, stepwise), 1e-6, name)
            XCTAssertEqual(session.length, tokens.count)
        }
    }

    func testLogProbabilities_longerThanTheContext_scoreInHalfOverlappingWindows() throws {
        let model = try model("gpt2-tiny")   // 64 positions
        let V = model.config.vocabSize
        let tokens = ids(100, vocabulary: V)
        let scores = try model.logProbabilities(tokens)
        XCTAssertEqual(scores.count, 99)
        func direct(_ window: Range<Int>, _ t: Int) throws -> Double {
            let logits = try model.forward(Array(tokens[window]), session: model.makeSession(), logits: .all)
            return logits.withUnsafeBufferPointer { logProbability($0.baseAddress! + (t - 1 - window.lowerBound) * V, n: V, at: tokens[t]) }
        }
        XCTAssertEqual(scores[0], try direct(0..<64, 1), accuracy: 1e-9)
        XCTAssertEqual(scores[62], try direct(0..<64, 63), accuracy: 1e-9)
        XCTAssertEqual(scores[63], try direct(32..<96, 64), accuracy: 1e-9, "token 64 is scored in the window from 32")
        XCTAssertEqual(scores[98], try direct(64..<100, 99), accuracy: 1e-9)
        XCTAssertTrue(scores.allSatisfy { $0 <= 0 && $0.isFinite })
    }

    func testOneModel_manyThreads_sameTokensAsOne() throws {
        let model = try model("llama-tiny")
        let prompt = ids(9, vocabulary: model.config.vocabSize)
        @Sendable func run() throws -> [Int] {
            var out: [Int] = []
            _ = try model.generate(prompt: prompt, maxTokens: 30, stopAtEndOfText: false) { out.append($0); return true }
            return out
        }
        let expected = try run()
        let results = Mutex([[Int]](repeating: [], count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let tokens = (try? run()) ?? []
            results.withLock { $0[i] = tokens }
        }
        for (i, tokens) in results.withLock({ $0 }).enumerated() { XCTAssertEqual(tokens, expected, "thread \(i)") }
    }

    func testAttentionRecord_rowsSumToOneAndTheFutureIsMasked() throws {
        let model = try model("llama-tiny")
        let tokens = ids(11, vocabulary: model.config.vocabSize)
        let record = try model.attention(tokens)
        XCTAssertEqual(record.probabilities.count, 2 * 4 * 11 * 11)
        for layer in 0..<2 {
            for head in 0..<4 {
                let p = Array(record.matrix(layer: layer, head: head))
                for i in 0..<11 {
                    XCTAssertEqual(p[(i * 11)...(i * 11 + i)].reduce(0, +), 1, accuracy: 1e-5)
                    for j in (i + 1)..<max(11, i + 1) { XCTAssertEqual(p[i * 11 + j], 0, "masked entry \(i),\(j)") }
                }
                XCTAssertTrue(record.updates(layer: layer, head: head).allSatisfy { $0 > 0 && $0.isFinite })
            }
        }
    }

    func testErrors_tooLong_emptyPrompt_tokenOutOfRange() throws {
        let model = try model("gpt2-tiny")
        XCTAssertThrowsError(try model.forward(ids(65, vocabulary: 297), session: model.makeSession())) {
            XCTAssertEqual($0 as? InferenceError, .sequenceTooLong(tokens: 65, maxPositions: 64))
        }
        XCTAssertThrowsError(try model.generate(prompt: [], maxTokens: 3) { _ in true }) {
            XCTAssertEqual($0 as? InferenceError, .emptyPrompt)
        }
        XCTAssertThrowsError(try model.forward([1, 297], session: model.makeSession())) {
            XCTAssertEqual($0 as? InferenceError, .tokenOutOfRange(id: 297, vocabSize: 297))
        }
    }

    func testEncoderFile_isRefusedAsADecoder() throws {
        let path = Self.root.appendingPathComponent("Fixtures/hf/bert-tiny").path
        XCTAssertThrowsError(try DecoderModel(try ModelFile(try openWeightFile(path: path)))) {
            guard case .unsupportedModel(let file, _)? = $0 as? InferenceError else { return XCTFail("\($0)") }
            XCTAssertEqual(file, path)
        }
    }
}
