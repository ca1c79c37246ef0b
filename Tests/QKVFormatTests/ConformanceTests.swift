import Foundation
import XCTest
@testable import QKVFormat

/// The conformance corpus (Fixtures/conformance/manifest.json, written by tools/fixtures_conformance.py):
/// every good file loads and passes deep validation; every bad file is rejected at the stage its manifest
/// names, with exactly the error case it names. Plus every single bit flip of a small `.qkv` file.
final class ConformanceTests: XCTestCase {
    struct Case: Decodable {
        var path: String
        var reader: String
        var expect: String
        var stage: String?
        var why: String
        var exit: Int
    }

    static let manifest: [Case] = {
        let url = Paths.root.appendingPathComponent("Fixtures/conformance/manifest.json")
        struct File: Decodable { var files: [Case] }
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).files
    }()

    /// "QKVFileError.headerChecksumMismatch" for an error value.
    static func kind(_ error: any Error) -> String {
        let label = Mirror(reflecting: error).children.first?.label ?? "\(error)"
        return "\(type(of: error)).\(label)"
    }

    /// What the library says about the file, the way `qkv validate --deep` asks: "valid", or the first
    /// error's kind and the stage it came from.
    static func outcome(_ path: String) -> (kind: String, stage: String?) {
        let file: any WeightFile
        do {
            file = try openWeightFile(path: path)
        } catch {
            return (kind(error), "open")
        }
        if let first = ModelFile.problems(in: file).first { return (kind(first), "schema") }
        do {
            if let first = try ModelFile(file).deepProblems().first { return (kind(first), "deep") }
        } catch {
            return (kind(error), "deep")
        }
        return ("valid", nil)
    }

    func testCorpus_everyFileAsItsManifestSays() {
        var checked = 0
        for entry in Self.manifest {
            let path = Paths.fixture(entry.path)
            let (kind, stage) = Self.outcome(path)
            XCTAssertEqual(kind, entry.expect, "\(entry.path): \(entry.why)")
            XCTAssertEqual(stage, entry.stage, "\(entry.path): rejected at the wrong stage")
            checked += 1
        }
        XCTAssertEqual(checked, Self.manifest.count)
    }

    func testCorpus_hasGoodAndBadFilesForEveryReader() {
        let bad = Self.manifest.filter { $0.expect != "valid" }
        XCTAssertGreaterThanOrEqual(bad.count, 60)
        for reader in ["qkv", "safetensors", "gguf", "hdf5", "pytorch"] {
            XCTAssertFalse(Self.manifest.filter { $0.reader == reader && $0.expect == "valid" }.isEmpty, "no good \(reader) file")
            XCTAssertGreaterThanOrEqual(bad.filter { $0.reader == reader }.count, 10, "too few bad \(reader) files")
        }
    }

    /// Every `PyTorchError` case has a corpus file (tools/fixtures_pytorch.py's hostile and broken files).
    func testCorpus_coversEveryPyTorchError() {
        let expected = Set(Self.manifest.filter { $0.reader == "pytorch" }.map(\.expect))
        for name in ["notAZip", "badZip", "unsupportedEntry", "missingEntry", "forbiddenGlobal", "unsupportedOpcode", "badPickle",
                     "notAStateDict", "badTensor"] {
            XCTAssertTrue(expected.contains("PyTorchError.\(name)"), "no corpus file for PyTorchError.\(name)")
        }
    }

    /// Every `QKVFileError` case a reader can throw, and the schema cases, have a corpus file.
    func testCorpus_coversEveryQKVRule() {
        let expected = Set(Self.manifest.filter { $0.reader == "qkv" }.map(\.expect))
        let qkvCases = [
            "tooSmall", "unsupportedVersion", "badByteOrder", "reservedNotZero", "lengthMismatch", "limitExceeded",
            "sectionsOutOfBounds", "dataOffsetMismatch", "headerChecksumMismatch", "metadataOverrun", "invalidKeyLength",
            "invalidUTF8", "unknownValueType", "invalidBool", "duplicateKey", "trailingSectionBytes", "tableOverrun",
            "invalidNameLength", "duplicateTensor", "unknownDType", "unknownRole", "rankTooLarge", "invalidBlockFields",
            "elementCountOverflow", "partialBlock", "byteLengthMismatch", "misalignedTensor", "overlappingTensor",
            "gapBeforeTensor", "tensorPastEnd", "trailingBytes", "tensorChecksumMismatch", "nonZeroPadding",
        ]
        for name in qkvCases { XCTAssertTrue(expected.contains("QKVFileError.\(name)"), "no corpus file for QKVFileError.\(name)") }
        let modelCases = [
            "missingKey", "wrongKeyType", "unknownKey", "invalidKey", "invalidValue", "missingTensor", "unexpectedTensor",
            "shapeMismatch", "roleMismatch", "dtypeNotAllowed", "tokenizerArrayLength", "tokenIdOutOfRange", "nonFiniteValue",
        ]
        for name in modelCases { XCTAssertTrue(expected.contains("ModelError.\(name)"), "no corpus file for ModelError.\(name)") }
    }

    /// Absurd sizes in tiny files fail fast: each is rejected in well under a second and without the
    /// resident set growing by anything like the declared size.
    func testAbsurdDeclaredSizes_failFastWithoutAllocating() throws {
        let absurd = Self.manifest.filter { $0.path.contains("2-6") || $0.path.contains("u64-max") || $0.path.contains("99999999") }
        XCTAssertGreaterThanOrEqual(absurd.count, 8)
        for entry in absurd {
            let before = try residentBytes()
            let start = Date()
            _ = Self.outcome(Paths.fixture(entry.path))
            XCTAssertLessThan(Date().timeIntervalSince(start), 1, entry.path)
            XCTAssertLessThan(try residentBytes() - before, 64 << 20, "\(entry.path) grew the resident set")
        }
    }

    /// `validate --deep` notices any single flipped bit of a `.qkv` file: header, metadata and table bits
    /// fail at open (the header CRC and the checks before it), data and padding bits in deep validation.
    /// Every bit of the 5 KB micro model, not a sample.
    func testEverySingleBitFlip_ofASmallQKVFile_isDetected() throws {
        let good = try readBytes(Paths.fixture("conformance/qkv/micro-llama.qkv"))
        XCTAssertLessThan(good.count, 16 << 10)
        let path = "\(try scratchDirectory())/flip.qkv"
        try writeBytes(good, to: path)
        let fd = open(path, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        func put(_ byte: UInt8, at offset: Int) {
            var b = byte
            XCTAssertEqual(pwrite(fd, &b, 1, off_t(offset)), 1)
        }
        var missed: [Int] = []
        for offset in 0..<good.count {
            for bit in 0..<8 {
                put(good[offset] ^ UInt8(1 << bit), at: offset)
                if Self.outcome(path).kind == "valid" { missed.append(offset * 8 + bit) }
            }
            put(good[offset], at: offset)
        }
        XCTAssertEqual(missed, [], "bit flips not detected (bit index = byte * 8 + bit)")
        XCTAssertEqual(Self.outcome(path).kind, "valid")
    }
}

/// The process's resident set in bytes (Linux /proc/self/statm). Throws where it cannot be read, so a
/// test measuring memory fails there instead of comparing zeros.
func residentBytes() throws -> Int {
    let text = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { throw ResidentSetUnreadable(statm: text) }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// /proc/self/statm read, but without a resident page count in its second field.
struct ResidentSetUnreadable: Error {
    let statm: String
}
