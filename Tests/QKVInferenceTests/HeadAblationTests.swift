import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The head-ablation hook (`ablateHead`) and what it reports, on heads whose effect is known by
/// construction. (Agreement with PyTorch hooks on real models: tools/tests/test_attention_ablation.py.)
final class HeadAblationTests: XCTestCase {
    static let root = TestFiles.root

    func file(_ name: String) throws -> ModelFile {
        try ModelFile(try openWeightFile(path: Self.root.appendingPathComponent("Fixtures/\(name)").path))
    }

    func testAblateHead_replacesOnlyItsColumns() {
        // z [3, 2·2]: head 1 is columns 2 and 3.
        var z: [Float] = [1, 2, 3, 4,
                          5, 6, 7, 8,
                          9, 10, 11, 12]
        z.withUnsafeMutableBufferPointer { ablateHead($0.baseAddress!, rows: 3, ld: 4, headDim: 2, HeadAblation(layer: 0, head: 1, mode: .mean)) }
        XCTAssertEqual(z, [1, 2, 7, 8, 5, 6, 7, 8, 9, 10, 7, 8])
        z.withUnsafeMutableBufferPointer { ablateHead($0.baseAddress!, rows: 3, ld: 4, headDim: 2, HeadAblation(layer: 0, head: 0, mode: .zero)) }
        XCTAssertEqual(z, [0, 0, 7, 8, 0, 0, 7, 8, 0, 0, 7, 8])
    }

    /// heads-roles.h5's head 3 has a zero W_O: removing it, either way, changes no log-probability at all.
    /// (Its unembedding, the tied token embedding, is zero, so no head changes anything there; a head of
    /// llama-tiny does.)
    func testHeadWithZeroOutputWeight_changesNothingWhenRemoved() throws {
        let model = try DecoderModel(try file("heads-roles.h5"))
        let tokens = [3, 1, 4, 1, 5, 2, 6, 5, 3, 5, 0, 7]
        for mode in HeadAblation.Mode.allCases {
            let report = try model.ablationEffects(tokens, mode: mode)
            XCTAssertEqual(report.effect(layer: 0, head: 3), 0, "\(mode)")
            XCTAssertEqual(Array(report.tokenDeltas(layer: 0, head: 3)!), Array(repeating: 0, count: tokens.count), "\(mode)")
            XCTAssertEqual(report.tokenDeltas(layer: 0, head: 0)?.first, 0, "t = 0 predicts nothing")
        }
        let llama = try DecoderModel(try file("hf/llama-tiny"))
        XCTAssertNotEqual(try llama.ablationEffects([1, 5, 17, 42], mode: .zero).effect(layer: 0, head: 0), 0)
        let clean = try model.logProbabilities(tokens)
        let report = try model.ablationEffects(tokens, mode: .zero)
        XCTAssertEqual(report.cleanMeanLogProbability!, clean.reduce(0, +) / Double(clean.count), accuracy: 1e-9)
    }

    /// The mean of one row is the row: a mean ablation of a one-token text is no change, bit for bit.
    func testMeanAblationOfOneToken_isNoChange() throws {
        let encoder = try BertEncoder(try file("bert-tiny.h5"))
        let report = try encoder.ablationEffects([5], mode: .mean)
        // Exactly 0 when the copy runs in the clean text's thread; a copy in the other thread's rows of
        // the packed batch multiplies in products of another height (rounding apart by 1e-16).
        XCTAssertEqual(report.effects.count, encoder.config.layerCount * encoder.config.headCount)
        for effect in report.effects { XCTAssertEqual(effect, 0, accuracy: 1e-12) }
        XCTAssertNil(report.mostChanged(layer: 0, head: 0))

        let decoder = try DecoderModel(try file("hf/llama-tiny"))
        func logits(_ ablation: HeadAblation?) -> [Float] {
            let session = decoder.makeSession(capacity: 1, chunkTokens: 1)
            var out = [Float](repeating: 0, count: decoder.config.vocabSize)
            out.withUnsafeMutableBufferPointer { decoder.forwardChunks([7], session: session, allLogits: $0.baseAddress!, record: nil, ablation: ablation) }
            return out
        }
        let clean = logits(nil)
        XCTAssertEqual(logits(HeadAblation(layer: 1, head: 2, mode: .mean)), clean)
        XCTAssertNotEqual(logits(HeadAblation(layer: 1, head: 2, mode: .zero)), clean)
        XCTAssertEqual(try decoder.ablationEffects([7], mode: .zero).effects.allSatisfy { $0 == 0 }, true, "a one-token text scores no token")
    }

    /// The encoder's ablated copies run packed in one batch, sequence by sequence: the same effect as
    /// running each copy on its own.
    func testEncoderBatch_eachCopyAsAlone() throws {
        let encoder = try BertEncoder(try file("bert-tiny.h5"))
        let ids = [2, 9, 4, 7, 3]
        let ablation = HeadAblation(layer: 1, head: 0, mode: .zero)
        let batch = try encoder.embed(tokenIDs: [ids, ids, ids], ablations: [nil, ablation, nil])
        let alone = try encoder.embed(tokenIDs: [ids], ablations: [ablation])[0]
        let clean = try encoder.embed(tokenIDs: [ids])[0]
        for (a, b) in zip(batch[0], clean) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        for (a, b) in zip(batch[2], clean) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        for (a, b) in zip(batch[1], alone) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertNotEqual(batch[1], batch[0])
    }

    func testTopIndices_largestOrSmallest_lowerIndexFirstOnTies() {
        let values: [Float] = [0.5, 2, -1, 2, -3, 0]
        XCTAssertEqual(topIndices(values[...], 3, largest: true), [1, 3, 0])
        XCTAssertEqual(topIndices(values[...], 2, largest: false), [4, 2])
        XCTAssertEqual(topIndices(values[...], 9, largest: true).count, 6)
    }

    /// The writes are W_U · n(u): zero for a head with a zero W_O (ties to the lower id), ordered both ways
    /// for a head that writes.
    func testWrites_zeroForAZeroOutputWeight_orderedOtherwise() throws {
        let roles = try DecoderModel(try file("heads-roles.h5"))
        let record = try roles.attention([3, 1, 4, 1, 5], keepingUpdates: true)
        XCTAssertTrue(record.finalNormScales.allSatisfy { $0 > 0 })
        XCTAssertTrue(record.finalNormCenters, "GPT-2's LayerNorm centres")
        let writes = roles.headWrites(record, top: 2)
        for t in 0..<5 {
            XCTAssertEqual(writes.top(layer: 0, head: 3, token: t, away: false).map(\.logit), [0, 0])
            XCTAssertEqual(writes.top(layer: 0, head: 3, token: t, away: false).map(\.id), [0, 1], "ties: the lower id first")
        }
        let llama = try DecoderModel(try file("hf/llama-tiny"))
        let lens = llama.headWrites(try llama.attention([1, 5, 17, 42], keepingUpdates: true), top: 3)
        for t in 0..<4 {
            let toward = lens.top(layer: 1, head: 2, token: t, away: false).map(\.logit), away = lens.top(layer: 1, head: 2, token: t, away: true).map(\.logit)
            XCTAssertEqual(toward, toward.sorted(by: >))
            XCTAssertEqual(away, away.sorted())
            XCTAssertGreaterThan(toward[0], away[0])
        }
    }
}
