import XCTest
@testable import QKVFormat

/// Every file in Fixtures/bad-hdf5/ (written by h5py, tools/make_fixtures.py) is rejected with exactly
/// the error its manifest names.
final class BadHDF5FixtureTests: XCTestCase {
    struct Case: Decodable {
        var error: String
        var why: String
        var deep: Bool?
    }

    /// `Type.case` of an error enum value, e.g. `HDF5Error.notQKVLayout`.
    func caseName(_ error: any Error) -> String {
        let label = Mirror(reflecting: error).children.first?.label ?? "\(error)"
        return "\(type(of: error)).\(label)"
    }

    /// The first problem qkv finds in `path`, as `validate` (with `deep`) would.
    func firstProblem(_ path: String, deep: Bool) -> (any Error)? {
        do {
            let file = try openWeightFile(path: path)
            if let problem = ModelFile.problems(in: file).first { return problem }
            return deep ? try ModelFile(file).deepProblems().first : nil
        } catch {
            return error
        }
    }

    func testEveryBadFile_isRejectedWithItsManifestError() throws {
        let dir = Paths.root.appendingPathComponent("Fixtures/bad-hdf5")
        let manifest = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        XCTAssertGreaterThanOrEqual(manifest.count, 25)
        for (name, expected) in manifest.sorted(by: { $0.key < $1.key }) {
            let path = dir.appendingPathComponent(name).path
            // The schema accepts these; building the tokenizer refuses them (QKVTokenizersTests).
            if expected.error.hasPrefix("TokenizerError.") {
                XCTAssertNil(firstProblem(path, deep: false), "\(name): the schema accepts it")
                continue
            }
            guard let problem = firstProblem(path, deep: expected.deep ?? false) else {
                XCTFail("\(name) (\(expected.why)) was accepted")
                continue
            }
            XCTAssertEqual(caseName(problem), expected.error, "\(name): \(expected.why): got \(problem)")
            XCTAssertTrue("\(problem)".hasPrefix(path + ":"), "the message names the file: \(problem)")
            if expected.deep == true {
                XCTAssertNil(firstProblem(path, deep: false), "\(name) passes without --deep")
            }
        }
    }
}
