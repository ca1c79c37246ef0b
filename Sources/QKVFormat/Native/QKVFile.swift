/// A `.qkv` file opened for reading: mapped read-only, validated completely at open
/// (Specs/qkv-format.md, "Validation" steps 1–5), then read through zero-copy views.
public final class QKVFile: WeightFile, Sendable {
    /// One tensor table entry.
    public struct Entry: Equatable, Sendable {
        public var info: TensorInfo
        /// From the start of the data section; a multiple of 64.
        public var offset: Int
        public var byteLength: Int
        public var checksum: UInt32
    }

    public let path: String
    public var format: ContainerFormat { .qkv }
    public let metadata: Metadata
    public let entries: [Entry]
    public var tensors: [TensorInfo] { entries.map(\.info) }
    /// The version the file was written with (minor versions may differ from ours).
    public let version: (major: UInt16, minor: UInt16)
    /// Absolute offset of the data section.
    public let dataOffset: Int
    /// End of the tensor table: the zero padding up to `dataOffset` starts here.
    let tableEnd: Int
    let mapping: MappedFile
    private let index: [String: Int]

    /// Maps and validates `path`. Throws `IOError` when the file cannot be read and `QKVFileError` for
    /// the first rule of the format it breaks.
    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        let parsed = try QKVFile.parse(mapping.bytes, file: path)
        self.path = path
        self.mapping = mapping
        self.metadata = parsed.metadata
        self.entries = parsed.entries
        self.version = parsed.version
        self.dataOffset = parsed.dataOffset
        self.tableEnd = parsed.tableEnd
        var index: [String: Int] = [:]
        for (i, entry) in parsed.entries.enumerated() { index[entry.info.name] = i }
        self.index = index
    }

    /// A zero-copy view of tensor `name`, valid as long as the view lives.
    public func tensor(_ name: String) throws -> TensorView {
        guard let i = index[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        let entry = entries[i]
        let start = dataOffset + entry.offset
        return TensorView(info: entry.info, storage: mapping,
                          bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<start + entry.byteLength]))
    }

    /// The checks only `validate --deep` makes: every tensor's CRC-32 and zero padding. (NaN and
    /// infinity are checked for every container by `ModelFile.deepProblems`.)
    public func containerDeepProblems() -> [QKVFileError] {
        var problems: [QKVFileError] = []
        let bytes = mapping.bytes
        func checkZero(_ range: Range<Int>) {
            if let bad = range.first(where: { bytes[$0] != 0 }) { problems.append(.nonZeroPadding(file: path, offset: bad)) }
        }
        checkZero(tableEnd..<dataOffset)
        for (i, entry) in entries.enumerated() {
            let start = dataOffset + entry.offset
            var crc = CRC32()
            TensorView(info: entry.info, storage: mapping, bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<start + entry.byteLength]))
                .forEachChunk { crc.update($0) }
            let computed = crc.value
            if computed != entry.checksum {
                problems.append(.tensorChecksumMismatch(file: path, tensor: entry.info.name, stored: entry.checksum, computed: computed))
            }
            let paddingEnd = i + 1 < entries.count ? dataOffset + entries[i + 1].offset : bytes.count
            checkZero(start + entry.byteLength..<paddingEnd)
        }
        return problems
    }

    // MARK: Parsing

    struct Parsed {
        var version: (major: UInt16, minor: UInt16)
        var metadata: Metadata
        var entries: [Entry]
        var dataOffset: Int
        var tableEnd: Int
    }

    /// Validates `bytes` as a whole `.qkv` file and returns its contents; every rule of
    /// Specs/qkv-format.md steps 1–5, in that order, with overflow-checked arithmetic.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(QKVFileError) -> Parsed {
        // 1. Fixed header.
        guard bytes.count >= QKVLayout.headerSize else { throw .tooSmall(file: file, size: bytes.count) }
        func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

        let magic = Array(bytes[0..<8])
        guard magic == QKVLayout.magic else { throw .badMagic(file: file, found: magic) }
        let (major, minor) = (u16(8), u16(10))
        guard major == QKVLayout.majorVersion else { throw .unsupportedVersion(file: file, major: major, minor: minor) }
        guard u32(12) == QKVLayout.byteOrderMark else { throw .badByteOrder(file: file, found: u32(12)) }
        guard u32(60) == 0 else { throw .reservedNotZero(file: file, value: u32(60)) }

        // 2. Lengths and sections.
        let fileLength = UInt64(bytes.count)
        let (recordedLength, metadataLength, tensorCount, tableLength, dataOffset) = (u64(16), u64(24), u64(32), u64(40), u64(48))
        guard recordedLength == fileLength else { throw .lengthMismatch(file: file, recorded: recordedLength, actual: fileLength) }
        guard metadataLength <= QKVLayout.maxMetadataLength else {
            throw .limitExceeded(file: file, what: "metadata length", value: metadataLength, limit: QKVLayout.maxMetadataLength)
        }
        guard tableLength <= QKVLayout.maxTableLength else {
            throw .limitExceeded(file: file, what: "tensor table length", value: tableLength, limit: QKVLayout.maxTableLength)
        }
        guard tensorCount <= QKVLayout.maxTensorCount else {
            throw .limitExceeded(file: file, what: "tensor count", value: tensorCount, limit: QKVLayout.maxTensorCount)
        }
        // Both lengths are bounded above, so 64 + M + L cannot overflow.
        let tableEnd = UInt64(QKVLayout.headerSize) + metadataLength + tableLength
        guard tableEnd <= dataOffset, dataOffset <= fileLength else {
            throw .sectionsOutOfBounds(file: file, metadataLength: metadataLength, tableLength: tableLength, dataOffset: dataOffset, fileLength: fileLength)
        }
        let expectedDataOffset = QKVLayout.align(tableEnd)!
        guard dataOffset == expectedDataOffset else { throw .dataOffsetMismatch(file: file, expected: expectedDataOffset, found: dataOffset) }

        // 3. Header checksum: bytes [0, 56) then metadata and table.
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[0..<QKVLayout.checksummedHeaderBytes]))
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[QKVLayout.headerSize..<Int(tableEnd)]))
        guard crc.value == u32(56) else { throw .headerChecksumMismatch(file: file, stored: u32(56), computed: crc.value) }

        // 4. Metadata.
        let metadataStart = QKVLayout.headerSize
        let metadataEnd = metadataStart + Int(metadataLength)
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[metadataStart..<metadataEnd]),
                                base: metadataStart, file: file, kind: .metadata)
        let metadata = try parseMetadata(&cursor, file: file)

        // 5. Tensor table and the tiling of the data section.
        var table = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[metadataEnd..<Int(tableEnd)]),
                               base: metadataEnd, file: file, kind: .table)
        let entries = try parseTable(&table, count: Int(tensorCount), dataOffset: dataOffset, fileLength: fileLength, file: file)
        return Parsed(version: (major, minor), metadata: metadata, entries: entries, dataOffset: Int(dataOffset), tableEnd: Int(tableEnd))
    }

    private static func parseMetadata(_ cursor: inout ByteCursor, file: String) throws(QKVFileError) -> Metadata {
        var metadata = Metadata()
        /// An array: its count is checked against the bytes left (`size` each at least) before allocating.
        func array<T>(_ size: Int, _ element: (inout ByteCursor) throws(QKVFileError) -> T) throws(QKVFileError) -> [T] {
            let count = try cursor.count(elementSize: size)
            var out = [T]()
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try element(&cursor)) }
            return out
        }
        // Each entry takes at least 2 + 1 + 1 + 1 bytes, which bounds the count before the loop.
        let count = try cursor.count(elementSize: 5)
        for _ in 0..<count {
            let keyOffset = cursor.absolutePosition
            let keyLength = Int(try cursor.u16())
            guard keyLength >= 1 && keyLength <= Metadata.maxKeyBytes else {
                throw .invalidKeyLength(file: file, offset: keyOffset, length: keyLength)
            }
            let key = try cursor.string(keyLength, field: "metadata key")
            let typeCode = try cursor.u8()
            guard let type = QKVLayout.ValueType(rawValue: typeCode) else {
                throw .unknownValueType(file: file, key: key, type: typeCode)
            }
            let value: MetadataValue
            switch type {
            case .bool:
                let byte = try cursor.u8()
                guard byte <= 1 else { throw .invalidBool(file: file, key: key, byte: byte) }
                value = .bool(byte == 1)
            case .int: value = .int(Int64(bitPattern: try cursor.u64()))
            case .float: value = .float(Double(bitPattern: try cursor.u64()))
            case .string: value = .string(try cursor.string(Int(try cursor.u32()), field: "value of '\(key)'"))
            case .int32Array: value = .int32Array(try array(4) { c throws(QKVFileError) in Int32(bitPattern: try c.u32()) })
            case .int64Array: value = .int64Array(try array(8) { c throws(QKVFileError) in Int64(bitPattern: try c.u64()) })
            case .float32Array: value = .float32Array(try array(4) { c throws(QKVFileError) in Float(bitPattern: try c.u32()) })
            case .float64Array: value = .float64Array(try array(8) { c throws(QKVFileError) in Double(bitPattern: try c.u64()) })
            case .stringArray:
                value = .stringArray(try array(4) { c throws(QKVFileError) in try c.string(Int(try c.u32()), field: "an element of '\(key)'") })
            }
            guard metadata[key] == nil else { throw .duplicateKey(file: file, key: key) }
            metadata[key] = value
        }
        guard cursor.remaining == 0 else {
            throw .trailingSectionBytes(file: file, section: "metadata", offset: cursor.absolutePosition, count: cursor.remaining)
        }
        return metadata
    }

    private static func parseTable(_ cursor: inout ByteCursor, count: Int, dataOffset: UInt64, fileLength: UInt64,
                                   file: String) throws(QKVFileError) -> [Entry] {
        var entries: [Entry] = []
        // The smallest entry is 31 bytes, which bounds the count by the table length before allocating.
        entries.reserveCapacity(min(count, cursor.remaining / 31))
        var names = Set<String>()
        var expectedOffset: UInt64 = 0
        for i in 0..<count {
            cursor.entry = i
            let nameOffset = cursor.absolutePosition
            let nameLength = Int(try cursor.u16())
            guard nameLength >= 1 && nameLength <= QKVLayout.maxNameBytes else {
                throw .invalidNameLength(file: file, offset: nameOffset, length: nameLength)
            }
            let name = try cursor.string(nameLength, field: "tensor name")
            guard names.insert(name).inserted else { throw .duplicateTensor(file: file, tensor: name) }
            let roleCode = try cursor.u16()
            let dtypeCode = try cursor.u8()
            let rank = Int(try cursor.u8())
            guard let role = TensorRole(rawValue: roleCode) else { throw .unknownRole(file: file, tensor: name, code: roleCode) }
            guard let dtype = DType(rawValue: dtypeCode) else { throw .unknownDType(file: file, tensor: name, code: dtypeCode) }
            guard rank <= QKVLayout.maxRank else { throw .rankTooLarge(file: file, tensor: name, rank: rank) }
            var rawShape: [UInt64] = []
            for _ in 0..<rank { rawShape.append(try cursor.u64()) }
            let offset = try cursor.u64()
            let byteLength = try cursor.u64()
            let checksum = try cursor.u32()
            let (blockSize, scaleType, layout) = (try cursor.u16(), try cursor.u8(), try cursor.u8())
            guard (blockSize, scaleType, layout) == QKVLayout.blockFields(for: dtype) else {
                throw .invalidBlockFields(file: file, tensor: name, dtype: dtype, blockSize: blockSize, scaleType: scaleType, layout: layout)
            }

            guard rawShape.allSatisfy({ $0 <= UInt64(Int.max) }), DType.elementCount(rawShape.map { Int($0) }) != nil else {
                throw .elementCountOverflow(file: file, tensor: name, shape: rawShape)
            }
            let shape = rawShape.map { Int($0) }
            // A scalar has no last dimension to block; it counts as a last dimension of 1.
            if dtype.blockSize > 1, (shape.last ?? 1) % dtype.blockSize != 0 {
                throw .partialBlock(file: file, tensor: name, lastDimension: shape.last ?? 1, blockSize: dtype.blockSize)
            }
            guard let expectedBytes = dtype.byteCount(for: shape) else {
                throw .elementCountOverflow(file: file, tensor: name, shape: rawShape)
            }
            guard byteLength == UInt64(expectedBytes) else {
                throw .byteLengthMismatch(file: file, tensor: name, expected: UInt64(expectedBytes), found: byteLength)
            }

            // Tiling: each tensor starts at the previous end rounded up to 64.
            guard offset % UInt64(QKVLayout.alignment) == 0 else { throw .misalignedTensor(file: file, tensor: name, offset: offset) }
            if offset < expectedOffset { throw .overlappingTensor(file: file, tensor: name, offset: offset, expected: expectedOffset) }
            if offset > expectedOffset { throw .gapBeforeTensor(file: file, tensor: name, offset: offset, expected: expectedOffset) }
            // offset <= data section size here (it equals the previous end, which was within the file).
            let (end, overflow) = (dataOffset + offset).addingReportingOverflow(byteLength)
            guard !overflow, end <= fileLength else {
                throw .tensorPastEnd(file: file, tensor: name, end: overflow ? .max : end, fileLength: fileLength)
            }
            entries.append(Entry(info: TensorInfo(name: name, role: role, dtype: dtype, shape: shape),
                                 offset: Int(offset), byteLength: Int(byteLength), checksum: checksum))
            let isLast = i == count - 1
            if isLast {
                guard end == fileLength else { throw .trailingBytes(file: file, dataEnd: end, fileLength: fileLength) }
            } else {
                // end <= fileLength < 2^63, so aligning cannot overflow.
                expectedOffset = QKVLayout.align(end - dataOffset)!
            }
        }
        guard cursor.remaining == 0 else {
            throw .trailingSectionBytes(file: file, section: "tensor table", offset: cursor.absolutePosition, count: cursor.remaining)
        }
        if count == 0 && dataOffset != fileLength {
            throw .trailingBytes(file: file, dataEnd: dataOffset, fileLength: fileLength)
        }
        return entries
    }
}
