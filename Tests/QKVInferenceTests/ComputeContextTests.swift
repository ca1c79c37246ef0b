import COpenBLAS
import Foundation
import Synchronization
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// `ComputeContext`: contexts of different sizes side by side in one process, OpenBLAS's settings left
/// alone, and thread teams lent per forward pass instead of owned by each session.
final class ComputeContextTests: XCTestCase {
    static let llama = TestFiles.root.appendingPathComponent("Fixtures/hf/llama-tiny").path

    func decoder(_ context: ComputeContext) throws -> DecoderModel {
        try DecoderModel(try ModelFile(try openWeightFile(path: Self.llama)), context: context)
    }

    /// A prompt and then `steps` one-token decode steps in a fresh session: every step's logits, end to end.
    static func decode(_ model: DecoderModel, prompt: [Int], steps: Int) throws -> [Float] {
        let session = model.makeSession(capacity: prompt.count + steps)
        var logits = try model.forward(prompt, session: session)
        var all = logits
        for step in 0..<steps {
            logits = try model.forward([(step * 7 + 5) % model.config.vocabSize], session: session)
            all += logits
        }
        return all
    }

    static func prompt(_ model: DecoderModel) -> [Int] { (0..<24).map { ($0 * 37 + 3) % model.config.vocabSize } }

    /// A context of one thread and one of three, each running its own decoder and encoder on two threads
    /// at once in this process, give the same numbers as each other (up to the order of float sums).
    func testComputeContexts_ofDifferentSizesRunSideBySideAndAgree() throws {
        let minilm = BertEncoderTests.minilm
        XCTAssertTrue(FileManager.default.fileExists(atPath: minilm), "run tools/fetch-models.sh")
        let sizes = [1, 3]
        let contexts = sizes.map { ComputeContext(threads: $0) }
        XCTAssertEqual(contexts.map(\.threads), sizes)
        let decoders = try contexts.map(decoder)
        let encoders = try contexts.map { try BertEncoder(try ModelFile(try openWeightFile(path: minilm)), context: $0) }
        let sequences = [[101, 2023, 2003, 1037, 3231, 6251, 102], [101, 7592, 102], Array(repeating: 2023, count: 40)]
        let results = Mutex<[Int: (logits: [Float], vectors: [[Float]])]>([:])
        let failures = Atomic(0)
        withOpenBLASThreads(1) {
            DispatchQueue.concurrentPerform(iterations: sizes.count) { i in
                do {
                    var logits: [Float] = []
                    var vectors: [[Float]] = []
                    for _ in 0..<3 {
                        logits = try Self.decode(decoders[i], prompt: Self.prompt(decoders[i]), steps: 12)
                        vectors = try encoders[i].embed(tokenIDs: sequences)
                    }
                    let result = (logits, vectors)
                    results.withLock { $0[i] = result }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
        let (one, three) = results.withLock { ($0[0]!, $0[1]!) }
        XCTAssertEqual(one.logits.count, three.logits.count)
        let scale = one.logits.map(abs).max() ?? 1
        for (x, y) in zip(one.logits, three.logits) { XCTAssertEqual(x, y, accuracy: 1e-5 * scale) }
        for (a, b) in zip(one.vectors, three.vectors) {
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        }
    }

    /// Loading and running models changes nothing in OpenBLAS: a host's thread count of 2 is still 2
    /// after a decoder's prompt and decode steps, a batch step and an encoder's batch.
    func testModels_leaveOpenBLASsThreadCountAsTheyFoundIt() throws {
        try withOpenBLASThreads(2) {
            let model = try decoder(.default)
            _ = try Self.decode(model, prompt: Self.prompt(model), steps: 4)
            let batch = DecoderBatch(model: model, maxSequences: 2)
            let sessions = [batch.makeSession(capacity: 8), batch.makeSession(capacity: 8)]
            for session in sessions { _ = try model.forward([1, 2, 3], session: session) }
            _ = try batch.step([4, 5], sequences: sessions)
            let encoder = try BertEncoder(try ModelFile(try openWeightFile(path: BertEncoderTests.minilm)))
            _ = try encoder.embed(tokenIDs: [[101, 7592, 102], [101, 2023, 102]])
            XCTAssertEqual(openblas_get_num_threads(), 2)
        }
    }

    /// Sessions hold no threads: many sessions used one after another borrow one team of the context,
    /// two used at once on two threads at most two, a batch's sessions and steps no more; and every team
    /// is back in the pool when no pass runs.
    func testSessions_borrowTheContextsTeamsInsteadOfStartingTheirOwn() throws {
        let context = ComputeContext(threads: 2)
        let model = try decoder(context)
        try withOpenBLASThreads(1) {
            for _ in 0..<6 { _ = try Self.decode(model, prompt: Self.prompt(model), steps: 3) }
            XCTAssertEqual(context.teamsMade.load(ordering: .relaxed), 1)
            XCTAssertEqual(context.idleTeams, 1)

            let failures = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                do { for _ in 0..<4 { _ = try Self.decode(model, prompt: Self.prompt(model), steps: 8) } } catch { failures.add(1, ordering: .relaxed) }
            }
            XCTAssertEqual(failures.load(ordering: .relaxed), 0)
            let made = context.teamsMade.load(ordering: .relaxed)
            XCTAssertLessThanOrEqual(made, 2)

            let batch = DecoderBatch(model: model, maxSequences: 4)
            let sessions = (0..<4).map { _ in batch.makeSession(capacity: 16) }
            for (i, session) in sessions.enumerated() { _ = try model.forward([1, 2, 3 + i], session: session) }
            for step in 0..<4 { _ = try batch.step(sessions.map { _ in 7 + step }, sequences: sessions) }
            XCTAssertEqual(context.teamsMade.load(ordering: .relaxed), made)
            XCTAssertEqual(context.idleTeams, made)
        }
    }
}
