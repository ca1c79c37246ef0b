/// Writes a `.qkv` file tensor by tensor (Specs/qkv-format.md, "Writing"): header, metadata and table
/// first with zero checksums, then each tensor as it comes with its CRC computed on the way, then the
/// table and header again with the checksums, then fsync and rename. Memory is one tensor at a time.
final class QKVWriter: ContainerWriter {
    private let output: AtomicOutput
    private var entries: [QKVFile.Entry]
    private let metadataBytes: [UInt8]
    private let dataOffset: Int
    private var next = 0
    private var written = 0

    init(target: String, inputs: [String], metadata: Metadata, tensors: [TensorInfo], options: WriteOptions) throws {
        var offset = 0
        entries = []
        for info in tensors {
            entries.append(QKVFile.Entry(info: info, offset: offset, byteLength: info.byteCount, checksum: 0))
            offset = Int(QKVLayout.align(UInt64(offset + info.byteCount))!)
        }
        metadataBytes = QKVWriter.encode(metadata)
        let tableLength = QKVWriter.encodeTable(entries).count
        dataOffset = Int(QKVLayout.align(UInt64(QKVLayout.headerSize + metadataBytes.count + tableLength))!)
        output = try AtomicOutput(target: target, inputs: inputs)
        // Placeholder header and table; the real ones follow in finish().
        try [UInt8](repeating: 0, count: dataOffset).withUnsafeBytes { try output.write($0) }
        written = dataOffset
    }

    func append(_ view: TensorView) throws {
        let entry = entries[next]
        precondition(view.name == entry.info.name && view.bytes.count == entry.byteLength, "tensors must arrive in table order")
        let padding = dataOffset + entry.offset - written
        if padding > 0 { try writeZeros(padding) }
        var crc = CRC32()
        try view.forEachChunk { piece in
            try output.write(piece)
            crc.update(piece)
        }
        entries[next].checksum = crc.value
        written = dataOffset + entry.offset + entry.byteLength
        next += 1
    }

    func finish() throws {
        precondition(next == entries.count, "finish() after \(next) of \(entries.count) tensors")
        let table = QKVWriter.encodeTable(entries)
        var header = [UInt8](repeating: 0, count: QKVLayout.headerSize)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { header.replaceSubrange(offset..<offset + $0.count, with: $0) }
        }
        header.replaceSubrange(0..<8, with: QKVLayout.magic)
        put(QKVLayout.majorVersion, at: 8)
        put(QKVLayout.minorVersion, at: 10)
        put(QKVLayout.byteOrderMark, at: 12)
        put(UInt64(written), at: 16)
        put(UInt64(metadataBytes.count), at: 24)
        put(UInt64(entries.count), at: 32)
        put(UInt64(table.count), at: 40)
        put(UInt64(dataOffset), at: 48)
        var crc = CRC32()
        header.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<QKVLayout.checksummedHeaderBytes])) }
        metadataBytes.withUnsafeBytes { crc.update($0) }
        table.withUnsafeBytes { crc.update($0) }
        put(crc.value, at: 56)
        try (header + metadataBytes + table).withUnsafeBytes { try output.write($0, at: 0) }
        try output.commit()
    }

    func abandon() { output.abandon() }

    private func writeZeros(_ count: Int) throws {
        try [UInt8](repeating: 0, count: count).withUnsafeBytes { try output.write($0) }
        written += count
    }

    // MARK: Encoding

    static func encode(_ metadata: Metadata) -> [UInt8] {
        var out = ByteBuilder()
        out.u64(UInt64(metadata.count))
        for key in metadata.sortedKeys {
            out.u16(UInt16(key.utf8.count))
            out.bytes(key.utf8)
            switch metadata[key]! {
            case .bool(let v): out.u8(QKVLayout.ValueType.bool.rawValue); out.u8(v ? 1 : 0)
            case .int(let v): out.u8(QKVLayout.ValueType.int.rawValue); out.u64(UInt64(bitPattern: v))
            case .float(let v): out.u8(QKVLayout.ValueType.float.rawValue); out.u64(v.bitPattern)
            case .string(let v): out.u8(QKVLayout.ValueType.string.rawValue); out.string32(v)
            case .int32Array(let v):
                out.u8(QKVLayout.ValueType.int32Array.rawValue); out.u64(UInt64(v.count))
                for x in v { out.u32(UInt32(bitPattern: x)) }
            case .int64Array(let v):
                out.u8(QKVLayout.ValueType.int64Array.rawValue); out.u64(UInt64(v.count))
                for x in v { out.u64(UInt64(bitPattern: x)) }
            case .float32Array(let v):
                out.u8(QKVLayout.ValueType.float32Array.rawValue); out.u64(UInt64(v.count))
                for x in v { out.u32(x.bitPattern) }
            case .float64Array(let v):
                out.u8(QKVLayout.ValueType.float64Array.rawValue); out.u64(UInt64(v.count))
                for x in v { out.u64(x.bitPattern) }
            case .stringArray(let v):
                out.u8(QKVLayout.ValueType.stringArray.rawValue); out.u64(UInt64(v.count))
                for x in v { out.string32(x) }
            }
        }
        return out.storage
    }

    static func encodeTable(_ entries: [QKVFile.Entry]) -> [UInt8] {
        var out = ByteBuilder()
        for entry in entries {
            let info = entry.info
            out.u16(UInt16(info.name.utf8.count))
            out.bytes(info.name.utf8)
            out.u16(info.role?.rawValue ?? 0)
            out.u8(info.dtype.rawValue)
            out.u8(UInt8(info.shape.count))
            for dim in info.shape { out.u64(UInt64(dim)) }
            out.u64(UInt64(entry.offset))
            out.u64(UInt64(entry.byteLength))
            out.u32(entry.checksum)
            let (size, scale, layout) = QKVLayout.blockFields(for: info.dtype)
            out.u16(size); out.u8(scale); out.u8(layout)
        }
        return out.storage
    }
}

/// Little-endian serialisation into a growing byte array.
struct ByteBuilder {
    var storage: [UInt8] = []
    mutating func u8(_ v: UInt8) { storage.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { storage += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { storage += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { storage += $0 } }
    mutating func bytes<S: Sequence>(_ s: S) where S.Element == UInt8 { storage += s }
    mutating func string32(_ s: String) { u32(UInt32(s.utf8.count)); storage += s.utf8 }
}
