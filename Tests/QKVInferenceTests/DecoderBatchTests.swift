import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Continuous batching: a `DecoderBatch` step gives every sequence the logits it would get decoded on
/// its own, whatever the other sequences, their lengths and their order.
final class DecoderBatchTests: XCTestCase {
    static let root = TestFiles.root

    /// The tiny models of every position scheme and attention kind: learned positions (GPT-2), RoPE
    /// (LLaMA), sliding windows with their own RoPE base and q/k norms (Gemma 3, Mistral), LongRoPE.
    static let models = ["Fixtures/hf/gpt2-tiny", "Fixtures/hf/llama-tiny", "Fixtures/reference/archs/gemma3",
                         "Fixtures/reference/archs/mistral", "Fixtures/reference/archs/phi3-longrope"]

    func model(_ path: String) throws -> DecoderModel {
        try DecoderModel(try ModelFile(try openWeightFile(path: Self.root.appendingPathComponent(path).path)))
    }

    func ids(_ count: Int, vocabulary: Int, seed: Int) -> [Int] { (0..<count).map { ($0 * 37 + seed * 11 + 3) % vocabulary } }

    /// max |a − b| relative to max |a|.
    func relativeDifference(_ a: ArraySlice<Float>, _ b: [Float]) -> Float {
        let scale = a.map(abs).max() ?? 1
        return (zip(a, b).map { abs($0 - $1) }.max() ?? 0) / max(scale, 1e-30)
    }

    /// Prefills `prompts`, each in two sessions, then steps the sequences `schedule` names together (one
    /// list per step) through one `DecoderBatch`, and each on its own: every row of a batch step within
    /// `tolerance` (relative to the largest logit) of its sequence's own decode step, lengths in step.
    func assertBatchStepsMatchDecodingAlone(_ model: DecoderModel, prompts: [[Int]], schedule: [[Int]], token: (_ step: Int, _ sequence: Int) -> Int,
                                            tolerance: Float, _ label: String) throws {
        let V = model.config.vocabSize
        let batched = prompts.map { model.makeSession(capacity: $0.count + schedule.count) }
        let alone = prompts.map { model.makeSession(capacity: $0.count + schedule.count) }
        for i in prompts.indices {
            _ = try model.forward(prompts[i], session: batched[i])
            _ = try model.forward(prompts[i], session: alone[i])
        }
        let batch = DecoderBatch(model: model, maxSequences: prompts.count)
        for (step, members) in schedule.enumerated() {
            let tokens = members.map { token(step, $0) }
            let logits = Array(try batch.step(tokens, sequences: members.map { batched[$0] }))
            for (row, member) in members.enumerated() {
                let expected = try model.forward([tokens[row]], session: alone[member])
                XCTAssertLessThan(relativeDifference(logits[(row * V)..<((row + 1) * V)], expected), tolerance, "\(label) step \(step) sequence \(member)")
                XCTAssertEqual(batched[member].length, alone[member].length)
            }
        }
    }

    func testBatchSteps_giveEachSequenceItsOwnDecodeLogits_asSequencesJoinLeaveAndReorder() throws {
        for path in Self.models {
            let model = try model(path)
            let V = model.config.vocabSize
            // Prompts of different lengths (longer than the sliding windows of the fixtures that have one);
            // which sequences step together: all, a reordered pair, one alone, all again. Several rows go
            // through sgemm, one through matrix-vector products: sums in another order.
            try assertBatchStepsMatchDecodingAlone(model, prompts: [3, 17, 40].enumerated().map { ids($1, vocabulary: V, seed: $0 + 1) },
                                                   schedule: [[0, 1, 2], [2, 0], [1], [1, 2, 0], [0, 1, 2]],
                                                   token: { step, sequence in (step * 13 + sequence * 5 + 1) % V }, tolerance: 1e-5, path)
        }
    }

    func testBatchOfOne_isBitEqualToADecodeStep() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let prompt = ids(9, vocabulary: model.config.vocabSize, seed: 2)
        let (a, b) = (model.makeSession(), model.makeSession())
        _ = try model.forward(prompt, session: a)
        _ = try model.forward(prompt, session: b)
        let batch = DecoderBatch(model: model, maxSequences: 4)
        for token in [5, 9, 1] {
            XCTAssertEqual(Array(try batch.step([token], sequences: [a])), try model.forward([token], session: b))
        }
    }

    /// With 8-bit activations every block-quantized matrix computes each row of a batch step as that
    /// sequence's own decode step does, so a sequence's numbers do not depend on its neighbours (the real
    /// Gemma 3: Q4_K, Q5_0, Q6_K and Q8_0 blocks, the Q8_0 tied head).
    func testEightBitActivations_batchRowsEqualEachSequencesOwnDecodeStep() throws {
        let path = TestFiles.modelPath("QKV_MODELS:gemma3/gemma-3-270m-q4_k_m.gguf")
        let model = try DecoderModel(try ModelFile(try openWeightFile(path: path)), activations: .q8)
        let exact = try DecoderModel(try ModelFile(try openWeightFile(path: path)))
        let prompts = [4, 11, 19].enumerated().map { ids($1, vocabulary: 4000, seed: $0 + 5) }
        try assertBatchStepsMatchDecodingAlone(model, prompts: prompts, schedule: [[0, 1, 2], [2, 0]],
                                               token: { step, sequence in 100 + step * 7 + sequence }, tolerance: 1e-6, "gemma3 q8")
        // And the option is in force: the exact model's decode step differs.
        let (a, b) = (model.makeSession(capacity: 8), exact.makeSession(capacity: 8))
        _ = try model.forward(prompts[0], session: a)
        _ = try exact.forward(prompts[0], session: b)
        XCTAssertGreaterThan(relativeDifference(try exact.forward([7], session: b)[...], try model.forward([7], session: a)), 1e-5)
    }

    /// A server makes a session per request: the batch's compute what the model's own sessions compute
    /// (neither holds threads: ComputeContextTests).
    func testSessionsMadeByTheBatch_giveTheSameLogits() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let batch = DecoderBatch(model: model, maxSequences: 2)
        let (shared, own) = (batch.makeSession(capacity: 16), model.makeSession(capacity: 16))
        let prompt = ids(7, vocabulary: model.config.vocabSize, seed: 3)
        XCTAssertEqual(try model.forward(prompt, session: shared), try model.forward(prompt, session: own))
        XCTAssertEqual(Array(try batch.step([4], sequences: [shared])), try model.forward([4], session: own))
    }

    func testBatchStep_aFullSequence_isRefusedAndNothingAppended() throws {
        let model = try model("Fixtures/hf/gpt2-tiny")
        let (full, other) = (model.makeSession(capacity: 4), model.makeSession(capacity: 8))
        _ = try model.forward([1, 2, 3, 4], session: full)
        _ = try model.forward([1, 2], session: other)
        let batch = DecoderBatch(model: model, maxSequences: 2)
        XCTAssertThrowsError(try batch.step([5, 6], sequences: [other, full])) { error in
            guard case InferenceError.sequenceTooLong(let tokens, let positions) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(tokens, 5)
            XCTAssertEqual(positions, 4)
        }
        XCTAssertEqual(other.length, 2)
        XCTAssertEqual(full.length, 4)
    }
}
