import XCTest
@testable import QKVFormat

/// Builds `.qkv` bytes piece by piece with the writer's own encoders, so each test breaks exactly one
/// rule of Specs/qkv-format.md and still passes every check before it (lengths, header CRC).
struct QKVBytes {
    var metadata: [UInt8] = QKVWriter.encode({
        var m = Metadata()
        m["user.note"] = .string("test")
        m["user.flag"] = .bool(true)
        return m
    }())
    var tensorCount = 2
    var table: [UInt8] = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24)
        + QKVBytes.entry("b", dtype: 2, shape: [5], offset: 64, length: 10)
    /// Tensor data from the data offset on: 24 bytes of `a`, zero padding, 10 bytes of `b`.
    var data: [UInt8] = [UInt8](repeating: 1, count: 24) + [UInt8](repeating: 0, count: 40) + [UInt8](repeating: 2, count: 10)

    static func entry(_ name: String, role: UInt16 = 1, dtype: UInt8, shape: [UInt64], offset: UInt64, length: UInt64,
                      crc: UInt32 = 0, block: (UInt16, UInt8, UInt8) = (0, 0, 0), nameLength: Int? = nil) -> [UInt8] {
        var b = ByteBuilder()
        b.u16(UInt16(nameLength ?? name.utf8.count)); b.bytes(name.utf8)
        b.u16(role); b.u8(dtype); b.u8(UInt8(shape.count))
        for d in shape { b.u64(d) }
        b.u64(offset); b.u64(length); b.u32(crc)
        b.u16(block.0); b.u8(block.1); b.u8(block.2)
        return b.storage
    }

    /// The whole file with a consistent header and header CRC.
    func bytes() -> [UInt8] {
        let tableEnd = 64 + metadata.count + table.count
        let dataOffset = (tableEnd + 63) / 64 * 64
        var file = [UInt8](repeating: 0, count: dataOffset) + data
        file.replaceSubrange(0..<8, with: QKVLayout.magic)
        QKVBytes.put(UInt16(1), at: 8, in: &file)
        QKVBytes.put(UInt32(0x0A0B_0C0D), at: 12, in: &file)
        QKVBytes.put(UInt64(file.count), at: 16, in: &file)
        QKVBytes.put(UInt64(metadata.count), at: 24, in: &file)
        QKVBytes.put(UInt64(tensorCount), at: 32, in: &file)
        QKVBytes.put(UInt64(table.count), at: 40, in: &file)
        QKVBytes.put(UInt64(dataOffset), at: 48, in: &file)
        file.replaceSubrange(64..<64 + metadata.count, with: metadata)
        file.replaceSubrange(64 + metadata.count..<tableEnd, with: table)
        QKVBytes.refreshChecksum(&file)
        return file
    }

    static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in file: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { file.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }

    static func get(_ offset: Int, _ file: [UInt8]) -> UInt64 {
        file[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Recomputes the header CRC after a test changed bytes it covers.
    static func refreshChecksum(_ file: inout [UInt8]) {
        let tableEnd = 64 + Int(get(24, file)) + Int(get(40, file))
        var crc = CRC32()
        file.withUnsafeBytes {
            crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<56]))
            crc.update(UnsafeRawBufferPointer(rebasing: $0[64..<min(tableEnd, $0.count)]))
        }
        put(crc.value, at: 56, in: &file)
    }
}

/// One test per `QKVFileError` case, each asserting the exact case (Specs/qkv-format.md, "Validation").
final class QKVFileErrorTests: XCTestCase {
    let f = "t.qkv"

    func parse(_ bytes: [UInt8]) throws -> QKVFile.Parsed {
        try bytes.withUnsafeBytes { try QKVFile.parse($0, file: f) }
    }

    func testBuilder_producesAValidFile() throws {
        let parsed = try parse(QKVBytes().bytes())
        XCTAssertEqual(parsed.entries.map(\.info.name), ["a", "b"])
        XCTAssertEqual(parsed.entries[1].offset, 64)
        XCTAssertEqual(parsed.metadata["user.flag"], .bool(true))
        XCTAssertEqual(parsed.dataOffset % 64, 0)
    }

    // MARK: Header

    func testTooSmall() {
        assertThrows(QKVFileError.tooSmall(file: f, size: 10)) { _ = try parse(Array(QKVBytes().bytes().prefix(10))) }
    }

    func testBadMagic() {
        var b = QKVBytes().bytes(); b[1] = 0x52
        assertThrows(QKVFileError.badMagic(file: f, found: [0x89, 0x52, 0x4B, 0x56, 0x0D, 0x0A, 0x1A, 0x0A])) { _ = try parse(b) }
    }

    func testUnsupportedMajorVersion() {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt16(2), at: 8, in: &b)
        assertThrows(QKVFileError.unsupportedVersion(file: f, major: 2, minor: 0)) { _ = try parse(b) }
    }

    func testNewerMinorVersion_isAccepted() throws {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt16(7), at: 10, in: &b); QKVBytes.refreshChecksum(&b)
        XCTAssertEqual(try parse(b).version.minor, 7)
    }

    func testBigEndianByteOrderMark() {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt32(0x0D0C_0B0A), at: 12, in: &b)
        assertThrows(QKVFileError.badByteOrder(file: f, found: 0x0D0C_0B0A)) { _ = try parse(b) }
    }

    func testReservedWordNotZero() {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt32(1), at: 60, in: &b)
        assertThrows(QKVFileError.reservedNotZero(file: f, value: 1)) { _ = try parse(b) }
    }

    func testTruncatedFile() {
        let b = QKVBytes().bytes()
        assertThrows(QKVFileError.lengthMismatch(file: f, recorded: UInt64(b.count), actual: UInt64(b.count - 1))) { _ = try parse(Array(b.dropLast())) }
    }

    func testTrailingBytesAfterRecordedLength() {
        let b = QKVBytes().bytes()
        assertThrows(QKVFileError.lengthMismatch(file: f, recorded: UInt64(b.count), actual: UInt64(b.count + 3))) { _ = try parse(b + [0, 0, 0]) }
    }

    func testMetadataLengthBeyondLimit() {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt64(1) << 40, at: 24, in: &b)
        assertThrows(QKVFileError.limitExceeded(file: f, what: "metadata length", value: 1 << 40, limit: 1 << 30)) { _ = try parse(b) }
    }

    func testTensorCountBeyondLimit() {
        var b = QKVBytes().bytes(); QKVBytes.put(UInt64.max, at: 32, in: &b)
        assertThrows(QKVFileError.limitExceeded(file: f, what: "tensor count", value: .max, limit: 1 << 20)) { _ = try parse(b) }
    }

    func testTableRunsPastDataOffset() {
        var b = QKVBytes().bytes()
        let (m, l, d) = (QKVBytes.get(24, b), QKVBytes.get(40, b), QKVBytes.get(48, b))
        QKVBytes.put(l + 200, at: 40, in: &b)
        assertThrows(QKVFileError.sectionsOutOfBounds(file: f, metadataLength: m, tableLength: l + 200, dataOffset: d, fileLength: UInt64(b.count))) { _ = try parse(b) }
    }

    func testDataOffsetNotRightAfterTable() {
        var b = QKVBytes().bytes()
        let d = QKVBytes.get(48, b)
        QKVBytes.put(d + 64, at: 48, in: &b)
        assertThrows(QKVFileError.dataOffsetMismatch(file: f, expected: d, found: d + 64)) { _ = try parse(b) }
    }

    func testHeaderChecksumCatchesAFlippedMetadataBit() {
        var b = QKVBytes().bytes()
        let stored = UInt32(truncatingIfNeeded: QKVBytes.get(56, b))
        b[70] ^= 0x10
        var fixed = b; QKVBytes.refreshChecksum(&fixed)
        let computed = UInt32(truncatingIfNeeded: QKVBytes.get(56, fixed))
        assertThrows(QKVFileError.headerChecksumMismatch(file: f, stored: stored, computed: computed)) { _ = try parse(b) }
    }

    // MARK: Metadata

    func metadataFile(_ build: (inout ByteBuilder) -> Void) -> [UInt8] {
        var m = ByteBuilder()
        build(&m)
        var file = QKVBytes()
        file.metadata = m.storage
        return file.bytes()
    }

    func testMetadataCountLargerThanSection() {
        let b = metadataFile { $0.u64(1_000_000) }
        assertThrows(QKVFileError.metadataOverrun(file: f, offset: 72, needed: 5_000_000)) { _ = try parse(b) }
    }

    func testEmptyKey() {
        let b = metadataFile { $0.u64(1); $0.u16(0); $0.u8(1); $0.u8(0); $0.u8(0) }
        assertThrows(QKVFileError.invalidKeyLength(file: f, offset: 72, length: 0)) { _ = try parse(b) }
    }

    func testKeyNotUTF8() {
        let b = metadataFile { $0.u64(1); $0.u16(2); $0.bytes([0xFF, 0xFE]); $0.u8(1); $0.u8(0) }
        assertThrows(QKVFileError.invalidUTF8(file: f, offset: 74, field: "metadata key")) { _ = try parse(b) }
    }

    func testUnknownValueType() {
        let b = metadataFile { $0.u64(1); $0.u16(5); $0.bytes("user.x".utf8.prefix(5)); $0.u8(99) }
        assertThrows(QKVFileError.unknownValueType(file: f, key: "user.", type: 99)) { _ = try parse(b) }
    }

    func testBoolThatIsNeitherZeroNorOne() {
        let b = metadataFile { $0.u64(1); $0.u16(6); $0.bytes("user.b".utf8); $0.u8(1); $0.u8(2) }
        assertThrows(QKVFileError.invalidBool(file: f, key: "user.b", byte: 2)) { _ = try parse(b) }
    }

    func testDuplicateKey() {
        let b = metadataFile {
            $0.u64(2)
            for _ in 0..<2 { $0.u16(6); $0.bytes("user.k".utf8); $0.u8(2); $0.u64(1) }
        }
        assertThrows(QKVFileError.duplicateKey(file: f, key: "user.k")) { _ = try parse(b) }
    }

    func testStringLengthPastSection() {
        let b = metadataFile { $0.u64(1); $0.u16(6); $0.bytes("user.s".utf8); $0.u8(4); $0.u32(1000); $0.bytes("abc".utf8) }
        assertThrows(QKVFileError.metadataOverrun(file: f, offset: 85, needed: 997)) { _ = try parse(b) }
    }

    func testArrayCountPastSection_isRejectedBeforeAllocating() {
        let b = metadataFile { $0.u64(1); $0.u16(6); $0.bytes("user.a".utf8); $0.u8(17); $0.u64(1 << 60) }
        assertThrows(QKVFileError.metadataOverrun(file: f, offset: 89, needed: Int.max)) { _ = try parse(b) }
    }

    func testTrailingBytesInMetadata() {
        let b = metadataFile { $0.u64(0); $0.u8(7) }
        assertThrows(QKVFileError.trailingSectionBytes(file: f, section: "metadata", offset: 72, count: 1)) { _ = try parse(b) }
    }

    func testEveryValueType_roundTrips() throws {
        var m = Metadata()
        m["user.b"] = .bool(false); m["user.i"] = .int(-5); m["user.f"] = .float(2.5); m["user.s"] = .string("héllo")
        m["user.i32"] = .int32Array([1, -2]); m["user.i64"] = .int64Array([.max]); m["user.f32"] = .float32Array([0.5])
        m["user.f64"] = .float64Array([1e300]); m["user.ss"] = .stringArray(["", "a b", "日本"])
        var file = QKVBytes(); file.metadata = QKVWriter.encode(m)
        XCTAssertEqual(try parse(file.bytes()).metadata, m)
    }

    // MARK: Tensor table

    func tableFile(_ table: [UInt8], count: Int, data: [UInt8]? = nil) -> [UInt8] {
        var file = QKVBytes()
        file.table = table
        file.tensorCount = count
        if let data { file.data = data }
        return file.bytes()
    }

    func testEntryPastEndOfTable() {
        let entry = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24)
        var file = QKVBytes(); file.table = Array(entry.dropLast(3)); file.tensorCount = 1; file.data = [UInt8](repeating: 1, count: 24)
        let b = file.bytes()
        let tableStart = 64 + file.metadata.count
        assertThrows(QKVFileError.tableOverrun(file: f, entry: 0, offset: tableStart + entry.count - 4, needed: 1)) { _ = try parse(b) }
    }

    func testEmptyTensorName() {
        let b = tableFile(QKVBytes.entry("", dtype: 1, shape: [], offset: 0, length: 4), count: 1, data: [0, 0, 0, 0])
        assertThrows(QKVFileError.invalidNameLength(file: f, offset: 64 + QKVBytes().metadata.count, length: 0)) { _ = try parse(b) }
    }

    func testDuplicateTensorName() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24) + QKVBytes.entry("a", dtype: 2, shape: [5], offset: 64, length: 10)
        assertThrows(QKVFileError.duplicateTensor(file: f, tensor: "a")) { _ = try parse(tableFile(table, count: 2)) }
    }

    func testUnknownDType() {
        let table = QKVBytes.entry("a", dtype: 99, shape: [2, 3], offset: 0, length: 24)
        assertThrows(QKVFileError.unknownDType(file: f, tensor: "a", code: 99)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testUnknownRole() {
        let table = QKVBytes.entry("a", role: 999, dtype: 1, shape: [2, 3], offset: 0, length: 24)
        assertThrows(QKVFileError.unknownRole(file: f, tensor: "a", code: 999)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testRankAboveEight() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [UInt64](repeating: 1, count: 9), offset: 0, length: 4)
        assertThrows(QKVFileError.rankTooLarge(file: f, tensor: "a", rank: 9)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testBlockFieldsOnAPlainDType() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24, block: (32, 2, 1))
        assertThrows(QKVFileError.invalidBlockFields(file: f, tensor: "a", dtype: .f32, blockSize: 32, scaleType: 2, layout: 1)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testElementCountOverflow() {
        let shape: [UInt64] = [1 << 32, 1 << 32]
        let table = QKVBytes.entry("a", dtype: 1, shape: shape, offset: 0, length: 24)
        assertThrows(QKVFileError.elementCountOverflow(file: f, tensor: "a", shape: shape)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testByteCountOverflowAfterElementCount() {
        let shape: [UInt64] = [1 << 62]
        let table = QKVBytes.entry("a", dtype: 1, shape: shape, offset: 0, length: 24)
        assertThrows(QKVFileError.elementCountOverflow(file: f, tensor: "a", shape: shape)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testQ8PartialBlock() {
        let table = QKVBytes.entry("q", dtype: 32, shape: [2, 33], offset: 0, length: 68, block: (32, 2, 1))
        assertThrows(QKVFileError.partialBlock(file: f, tensor: "q", lastDimension: 33, blockSize: 32)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testQ8WholeBlocks_areAccepted() throws {
        let table = QKVBytes.entry("q", dtype: 32, shape: [2, 64], offset: 0, length: 136, block: (32, 2, 1))
        let parsed = try parse(tableFile(table, count: 1, data: [UInt8](repeating: 0, count: 136)))
        XCTAssertEqual(parsed.entries[0].info.byteCount, 136)
    }

    func testByteLengthDisagreesWithShape() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 20)
        assertThrows(QKVFileError.byteLengthMismatch(file: f, tensor: "a", expected: 24, found: 20)) { _ = try parse(tableFile(table, count: 1)) }
    }

    func testMisalignedTensor() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24) + QKVBytes.entry("b", dtype: 2, shape: [5], offset: 24, length: 10)
        assertThrows(QKVFileError.misalignedTensor(file: f, tensor: "b", offset: 24)) { _ = try parse(tableFile(table, count: 2)) }
    }

    func testOverlappingTensors() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24) + QKVBytes.entry("b", dtype: 2, shape: [5], offset: 0, length: 10)
        assertThrows(QKVFileError.overlappingTensor(file: f, tensor: "b", offset: 0, expected: 64)) { _ = try parse(tableFile(table, count: 2)) }
    }

    func testGapBetweenTensors() {
        let table = QKVBytes.entry("a", dtype: 1, shape: [2, 3], offset: 0, length: 24) + QKVBytes.entry("b", dtype: 2, shape: [5], offset: 128, length: 10)
        let data = [UInt8](repeating: 0, count: 138)
        assertThrows(QKVFileError.gapBeforeTensor(file: f, tensor: "b", offset: 128, expected: 64)) { _ = try parse(tableFile(table, count: 2, data: data)) }
    }

    func testTensorPastEndOfFile() {
        var file = QKVBytes(); file.data = Array(file.data.prefix(70))
        let b = file.bytes()
        let dataOffset = QKVBytes.get(48, b)
        assertThrows(QKVFileError.tensorPastEnd(file: f, tensor: "b", end: dataOffset + 74, fileLength: UInt64(b.count))) { _ = try parse(b) }
    }

    func testBytesAfterLastTensor() {
        var file = QKVBytes(); file.data += [0, 0]
        let b = file.bytes()
        let dataOffset = QKVBytes.get(48, b)
        assertThrows(QKVFileError.trailingBytes(file: f, dataEnd: dataOffset + 74, fileLength: UInt64(b.count))) { _ = try parse(b) }
    }

    func testTableLongerThanItsEntries() {
        var file = QKVBytes(); file.table += [0, 0, 0]
        let b = file.bytes()
        let tableEnd = 64 + file.metadata.count + file.table.count
        assertThrows(QKVFileError.trailingSectionBytes(file: f, section: "tensor table", offset: tableEnd - 3, count: 3)) { _ = try parse(b) }
    }
}
