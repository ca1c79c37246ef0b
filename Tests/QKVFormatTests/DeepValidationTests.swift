import XCTest
@testable import QKVFormat

/// `validate --deep`: checksums, padding and non-finite values in files written by the converter.
final class DeepValidationTests: XCTestCase {
    func convertedLlama() throws -> (path: String, bytes: [UInt8], file: QKVFile) {
        let dir = try scratchDirectory()
        let path = "\(dir)/l.qkv"
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: path, format: .qkv)
        return (path, try readBytes(path), try QKVFile(path: path))
    }

    func testWrittenFile_passesDeepValidation() throws {
        let (_, _, file) = try convertedLlama()
        XCTAssertTrue(try ModelFile(file).deepProblems().isEmpty)
        for entry in file.entries { XCTAssertEqual(entry.offset % 64, 0) }
        for name in file.tensors.map(\.name) {
            let view = try file.tensor(name)
            view.withUnsafeBytes { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % 64, 0, "\(name) is 64-byte aligned in memory") }
        }
    }

    func testFlippedDataBit_isAChecksumMismatch() throws {
        let (path, bytes, good) = try convertedLlama()
        let entry = good.entries[3]
        var bad = bytes
        bad[good.dataOffset + entry.offset + 5] ^= 0x04
        try writeBytes(bad, to: path)
        let file = try QKVFile(path: path)
        let problems = try ModelFile(file).deepProblems()
        XCTAssertEqual(problems.count, 1)
        guard case let .tensorChecksumMismatch(_, tensor, stored, _)? = problems.first as? QKVFileError else { return XCTFail("\(problems)") }
        XCTAssertEqual(tensor, entry.info.name)
        XCTAssertEqual(stored, entry.checksum)
    }

    func testEverySingleBitFlip_isDetected() throws {
        // Header, metadata and table bits fail at open (header CRC and the checks before it); data and
        // padding bits fail deep validation. Every header byte, then a sample of the rest (every 97th byte,
        // a different bit each time) to keep the test quick.
        let (path, bytes, _) = try convertedLlama()
        for offset in Array(0..<64) + Array(stride(from: 64, to: bytes.count, by: 97)) {
            var bad = bytes
            bad[offset] ^= UInt8(1 << (offset % 8))
            try writeBytes(bad, to: path)
            guard let file = try? QKVFile(path: path) else { continue }
            let problems = (try? ModelFile(file).deepProblems()) ?? []
            XCTAssertFalse(problems.isEmpty && ModelFile.problems(in: file).isEmpty, "bit flip at byte \(offset) went unnoticed")
        }
    }

    func testNonZeroPadding() throws {
        // QKVBytes puts 40 bytes of zero padding between its two tensors; make one of them 1.
        var file = QKVBytes()
        file.data[30] = 1
        let bytes = file.bytes()
        let path = "\(try scratchDirectory())/p.qkv"
        try writeBytes(bytes, to: path)
        let qkv = try QKVFile(path: path)
        let problems = qkv.containerDeepProblems()
        XCTAssertEqual(problems.filter { if case .nonZeroPadding = $0 { true } else { false } },
                       [.nonZeroPadding(file: path, offset: qkv.dataOffset + 30)])
    }

    func testNaNInATensor_isReportedWithItsIndex() throws {
        let (path, bytes, good) = try convertedLlama()
        let entry = good.entries.first { $0.info.name == "layers/0/mlp/up/weight" }!
        var bad = bytes
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bad.replaceSubrange(good.dataOffset + entry.offset + 40..<good.dataOffset + entry.offset + 44, with: $0) }
        try writeBytes(bad, to: path)
        let problems = try ModelFile(try QKVFile(path: path)).deepProblems()
        let nonFinite = problems.compactMap { $0 as? ModelError }
        XCTAssertEqual(nonFinite.count, 1)
        guard case let .nonFiniteValue(_, tensor, index, value)? = nonFinite.first else { return XCTFail() }
        XCTAssertEqual(tensor, "layers/0/mlp/up/weight")
        XCTAssertEqual(index, 10)
        XCTAssertTrue(value.isNaN)
    }
}
