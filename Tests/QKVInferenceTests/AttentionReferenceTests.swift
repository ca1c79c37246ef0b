import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Every head's attention probabilities and update norms against transformers (`output_attentions=True`
/// and a hook on the output projection's input), from Fixtures/reference/attention
/// (tools/make_attention_references.py).
final class AttentionReferenceTests: XCTestCase {
    static let root = TestFiles.root
    static let directory = root.appendingPathComponent("Fixtures/reference/attention")

    struct Reference: Decodable {
        struct Case: Decodable {
            var name: String
            var model: String
            var ids: [Int]
            var text: String?
            var attentions: String
            var updates: String
            var shape: [Int]
        }
        var cases: [Case]
    }

    func testEveryHead_probabilitiesAndUpdatesMatchTransformers() throws {
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.directory.appendingPathComponent("cases.json")))
        XCTAssertGreaterThanOrEqual(reference.cases.count, 4)
        for c in reference.cases {
            let path = TestFiles.modelPath(c.model)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(path) is missing: run tools/fetch-models.sh")
            let analyzer = try AttentionAnalyzer(path: path)
            let report = try c.text.map { try analyzer.analyze($0) } ?? analyzer.analyze(ids: c.ids)
            XCTAssertEqual(report.tokenIDs, c.ids, "\(c.name): token ids")
            let record = report.record
            XCTAssertEqual([record.layerCount, record.headCount, record.tokenCount, record.tokenCount], c.shape, c.name)
            let expected = try TestFiles.loadNPY(Self.directory.appendingPathComponent(c.attentions))
            let expectedUpdates = try TestFiles.loadNPY(Self.directory.appendingPathComponent(c.updates))
            let worst = zip(record.probabilities, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(c.name): attention probabilities differ by \(worst)")
            var worstUpdate: Float = 0
            for (ours, theirs) in zip(record.updateNorms, expectedUpdates) { worstUpdate = max(worstUpdate, abs(ours - theirs) / max(theirs, 1e-6)) }
            XCTAssertLessThanOrEqual(worstUpdate, 1e-4, "\(c.name): head update norms differ by \(worstUpdate) relative")
            print("\(c.name): max |Δp| \(worst), max relative Δupdate \(worstUpdate)")
        }
    }
}
