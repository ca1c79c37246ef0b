import Foundation
import XCTest
@testable import QKVFormat

/// Every file in Fixtures/gguf/bad/ (built byte by byte by tools/fixtures_gguf.py) is rejected with exactly
/// the error its manifest names, with the payload the generator computed (offsets, counts, expected vs
/// found); one test per `GGUFError` case.
final class GGUFBadFixtureTests: XCTestCase {
    static let dir = Paths.root.appendingPathComponent("Fixtures/gguf/bad")

    struct Case: Decodable {
        var error: String
        var why: String
        /// Payload labels -> the value as Swift's `description` prints it.
        var fields: [String: String]
        /// The error comes from `tensor(name)` of a file that opens.
        var tensor: String?
    }

    static let manifest: [String: Case] = {
        let data = try! Data(contentsOf: dir.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode([String: Case].self, from: data)
    }()

    /// Every case of GGUFError, by label.
    static let allCases = [
        "unexpectedEnd", "badMagic", "unsupportedVersion", "wrongByteOrder", "countOutOfRange", "stringTooLong",
        "invalidUTF8", "emptyKey", "duplicateKey", "invalidValueType", "nestedArray", "arrayTooLong", "invalidBool",
        "alignmentNotU32", "invalidAlignment", "invalidTensorName", "duplicateTensor", "tooManyDimensions",
        "negativeDimension", "elementCountOverflow", "invalidTensorType", "partialBlock", "tensorOffsetMismatch",
        "dataStartPastEnd", "tensorPastEnd", "noSuchTensor", "unsupportedTensorType", "splitShard",
    ]

    /// The error reading `name` gives, or nil when it is accepted.
    func problem(_ name: String, _ entry: Case) -> (any Error)? {
        do {
            let file = try GGUFFile(path: Self.dir.appendingPathComponent(name).path)
            if let tensor = entry.tensor { _ = try file.tensor(tensor) }
            return nil
        } catch {
            return error
        }
    }

    /// Checks every manifest file whose error is `GGUFError.<label>`; there must be at least one.
    func check(_ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let cases = Self.manifest.filter { $0.value.error == "GGUFError.\(label)" }.sorted { $0.key < $1.key }
        XCTAssertFalse(cases.isEmpty, "no bad fixture for GGUFError.\(label)", file: file, line: line)
        for (name, entry) in cases {
            let path = Self.dir.appendingPathComponent(name).path
            guard let error = problem(name, entry) else {
                XCTFail("\(name) (\(entry.why)) was accepted", file: file, line: line)
                continue
            }
            guard let gguf = error as? GGUFError, let child = Mirror(reflecting: gguf).children.first else {
                XCTFail("\(name): expected GGUFError.\(label), got \(type(of: error)): \(error)", file: file, line: line)
                continue
            }
            XCTAssertEqual(child.label, label, "\(name): \(entry.why): got \(gguf)", file: file, line: line)
            var payload: [String: String] = [:]
            for field in Mirror(reflecting: child.value).children {
                if let l = field.label { payload[l] = "\(field.value)" }
            }
            XCTAssertEqual(payload["file"], path, "\(name): the error names the file", file: file, line: line)
            for (key, value) in entry.fields {
                XCTAssertEqual(payload[key], value, "\(name): \(label).\(key) (\(entry.why)): \(gguf)", file: file, line: line)
            }
            XCTAssertTrue("\(gguf)".hasPrefix(path + ": "), "the message names the file: \(gguf)", file: file, line: line)
        }
    }

    func testManifest_coversEveryCase_andListsExactlyTheFolder() throws {
        let used = Set(Self.manifest.values.map(\.error))
        XCTAssertEqual(used, Set(Self.allCases.map { "GGUFError.\($0)" }))
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.dir.path).filter { $0.hasSuffix(".gguf") }
        XCTAssertEqual(Set(files), Set(Self.manifest.keys))
    }

    func testUnexpectedEnd() { check("unexpectedEnd") }
    func testBadMagic() { check("badMagic") }
    func testSplitShard() { check("splitShard") }
    func testUnsupportedVersion() { check("unsupportedVersion") }
    func testWrongByteOrder() { check("wrongByteOrder") }
    func testCountOutOfRange() { check("countOutOfRange") }
    func testStringTooLong() { check("stringTooLong") }
    func testInvalidUTF8() { check("invalidUTF8") }
    func testEmptyKey() { check("emptyKey") }
    func testDuplicateKey() { check("duplicateKey") }
    func testInvalidValueType() { check("invalidValueType") }
    func testNestedArray() { check("nestedArray") }
    func testArrayTooLong() { check("arrayTooLong") }
    func testInvalidBool() { check("invalidBool") }
    func testAlignmentNotU32() { check("alignmentNotU32") }
    func testInvalidAlignment() { check("invalidAlignment") }
    func testInvalidTensorName() { check("invalidTensorName") }
    func testDuplicateTensor() { check("duplicateTensor") }
    func testTooManyDimensions() { check("tooManyDimensions") }
    func testNegativeDimension() { check("negativeDimension") }
    func testElementCountOverflow() { check("elementCountOverflow") }
    func testInvalidTensorType() { check("invalidTensorType") }
    func testPartialBlock() { check("partialBlock") }
    func testTensorOffsetMismatch() { check("tensorOffsetMismatch") }
    func testDataStartPastEnd() { check("dataStartPastEnd") }
    func testTensorPastEnd() { check("tensorPastEnd") }
    func testNoSuchTensor() { check("noSuchTensor") }
    func testUnsupportedTensorType() { check("unsupportedTensorType") }

    /// Every prefix of a valid file is rejected, never crashes, and (past the magic) says where it ends.
    func testEveryTruncation_isRejected() throws {
        let good = try readBytes(GGUFFixtureTests.fixture("all-types-v2.gguf"))
        let path = try scratchDirectory() + "/cut.gguf"
        let lastEnd = try GGUFFile(path: GGUFFixtureTests.fixture("all-types-v2.gguf")).tensorInfos.map { $0.offset + $0.byteCount }.max()!
        let dataStart = try GGUFFile(path: GGUFFixtureTests.fixture("all-types-v2.gguf")).dataStart
        for length in 0..<(dataStart + lastEnd) {
            try writeBytes(Array(good[0..<length]), to: path)
            XCTAssertThrowsError(try GGUFFile(path: path), "\(length) bytes") { error in
                XCTAssertTrue(error is GGUFError, "\(length) bytes: \(error)")
            }
        }
        // Without the last tensor's padding it is still valid, as llama.cpp's loader has it.
        try writeBytes(Array(good[0..<(dataStart + lastEnd)]), to: path)
        XCTAssertNoThrow(try GGUFFile(path: path))
    }
}
