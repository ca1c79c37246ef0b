import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVTokenizers

/// The files of Fixtures/bad-hdf5/ (tools/make_fixtures.py) whose manifest error is a `TokenizerError`:
/// the schema accepts them, and building their tokenizer throws exactly that case, as `qkv validate` does.
final class BadTokenizerFixtureTests: XCTestCase {
    struct Case: Decodable {
        var error: String
        var why: String
    }

    func testEveryTokenizerBadFile_isRefusedWhenItsTokenizerIsBuilt() throws {
        let dir = Paths.root.appendingPathComponent("Fixtures/bad-hdf5")
        let manifest = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        let cases = manifest.filter { $0.value.error.hasPrefix("TokenizerError.") }
        XCTAssertFalse(cases.isEmpty)
        for (name, expected) in cases.sorted(by: { $0.key < $1.key }) {
            let model = try ModelFile(try openWeightFile(path: dir.appendingPathComponent(name).path))
            let data = try XCTUnwrap(model.tokenizer, name)
            XCTAssertThrowsError(try makeTokenizer(data: data, config: model.config), "\(name): \(expected.why)") { error in
                let label = Mirror(reflecting: error).children.first?.label ?? "\(error)"
                XCTAssertEqual("TokenizerError.\(label)", expected.error, "\(name): got \(error)")
            }
        }
    }
}
