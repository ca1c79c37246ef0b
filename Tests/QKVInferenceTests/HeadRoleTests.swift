import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Head profiles on heads whose role is true by construction (Fixtures/heads-roles.h5, made by
/// tools/fixtures_heads.py: W_Q/W_K built so head 0 attends to the previous token, head 1 to itself,
/// head 2 to the first token, head 3 uniformly with a zero W_O), and on hand-made probability matrices.
final class HeadRoleTests: XCTestCase {
    static let root = TestFiles.root

    func testHeadsBuiltForARole_areProfiledWithThatRole() throws {
        let path = Self.root.appendingPathComponent("Fixtures/heads-roles.h5").path
        let model = try DecoderModel(try ModelFile(try openWeightFile(path: path)))
        let record = try model.attention([3, 1, 4, 1, 5, 2, 6, 5, 3, 5, 0, 7])
        let profiles = record.headProfiles()
        XCTAssertEqual(profiles.map(\.role), [.previousToken, .currentToken, .firstToken, .broad])
        XCTAssertGreaterThan(profiles[0].previousToken, 0.99)
        XCTAssertEqual(profiles[0].meanDistance, 1, accuracy: 0.02)
        XCTAssertGreaterThan(profiles[1].currentToken, 0.99)
        XCTAssertLessThan(profiles[1].meanDistance, 0.02)
        XCTAssertGreaterThan(profiles[2].firstToken, 0.99)
        XCTAssertEqual(profiles[3].normalizedEntropy, 1, accuracy: 1e-5, "uniform over the visible keys")
        XCTAssertEqual(profiles[3].meanUpdateNorm, 0, "a zero W_O changes nothing, wherever the head looks")
        XCTAssertGreaterThan(profiles[0].meanUpdateNorm, 0)
        XCTAssertLessThan(profiles[0].normalizedEntropy, 0.05)
    }

    /// One layer and head of `T` tokens from a probability function.
    func record(tokens T: Int, causal: Bool, _ p: (Int, Int) -> Float) -> AttentionRecord {
        let record = AttentionRecord(layerCount: 1, headCount: 1, tokenCount: T, isCausal: causal)
        var matrix = [Float](repeating: 0, count: T * T)
        for i in 0..<T { for j in 0..<T { matrix[i * T + j] = p(i, j) } }
        record.storeProbabilities(layer: 0, head: 0, firstQuery: 0, rows: T, keys: T, stride: T, matrix)
        return record
    }

    func testEncoderHeads_nextTokenLastTokenAndFixedOffset() {
        let T = 8
        XCTAssertEqual(record(tokens: T, causal: false) { i, j in j == min(i + 1, T - 1) ? 1 : 0 }.headProfiles()[0].role, .nextToken)
        let sep = record(tokens: T, causal: false) { _, j in j == T - 1 ? 1 : 0 }.headProfiles()[0]
        XCTAssertEqual(sep.role, .lastToken)
        XCTAssertEqual(sep.lastToken, 1)
        let offset = record(tokens: T, causal: false) { i, j in j == (i + 3) % T ? 1 : 0 }.headProfiles()[0]
        XCTAssertEqual(offset.role, .fixedOffset)
        XCTAssertEqual(offset.bestOffset, 3)
        XCTAssertEqual(offset.bestOffsetScore, 5.0 / 8.0, accuracy: 1e-6, "5 of 8 rows have key i + 3")
    }

    func testMixedHead_isNeitherPositionalNorBroad() {
        // Half on self, half on the previous token: no role reaches 0.6, entropy log 2 / log 8 = 1/3.
        let profile = record(tokens: 8, causal: false) { i, j in (j == i || j == (i + 7) % 8) ? 0.5 : 0 }.headProfiles(threshold: 0.6)[0]
        XCTAssertEqual(profile.role, .mixed)
        XCTAssertEqual(profile.normalizedEntropy, Float(log(2.0) / log(8.0)), accuracy: 1e-5)
    }
}
