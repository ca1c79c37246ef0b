/// Reads little-endian scalars from one section of a mapped file, checking every read against the bytes
/// left, so a hostile length can never move a read outside the section.
struct ByteCursor {
    enum Section { case metadata, table }

    let section: UnsafeRawBufferPointer
    /// Absolute file offset of `section`'s first byte, for error messages.
    let base: Int
    let file: String
    let kind: Section
    /// The table entry being read, for error messages.
    var entry = 0
    private(set) var position = 0

    init(_ section: UnsafeRawBufferPointer, base: Int, file: String, kind: Section) {
        self.section = section
        self.base = base
        self.file = file
        self.kind = kind
    }

    var remaining: Int { section.count - position }
    var absolutePosition: Int { base + position }

    /// Returns the next `count` bytes and moves past them.
    mutating func take(_ count: Int) throws(QKVFileError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw overrun(needed: count - remaining) }
        let slice = UnsafeRawBufferPointer(rebasing: section[position..<position + count])
        position += count
        return slice
    }

    // Loads copy bytes into a local (`loadUnaligned`): entries are packed, so nothing is aligned.
    mutating func u8() throws(QKVFileError) -> UInt8 { try take(1)[0] }
    mutating func u16() throws(QKVFileError) -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
    mutating func u32() throws(QKVFileError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws(QKVFileError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

    /// UTF-8 text of `count` bytes; `field` names it in the error.
    mutating func string(_ count: Int, field: String) throws(QKVFileError) -> String {
        let start = absolutePosition
        let bytes = try take(count)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidUTF8(file: file, offset: start, field: field)
        }
        return text
    }

    /// A count of `elementSize`-byte items, checked against the bytes left before anything is allocated.
    mutating func count(elementSize: Int) throws(QKVFileError) -> Int {
        let raw = try u64()
        let limit = UInt64(remaining / max(elementSize, 1))
        guard raw <= limit else {
            let (bytes, overflow) = raw.multipliedReportingOverflow(by: UInt64(elementSize))
            throw overrun(needed: overflow ? Int.max : Int(clamping: bytes - UInt64(remaining)))
        }
        return Int(raw)
    }

    private func overrun(needed: Int) -> QKVFileError {
        switch kind {
        case .metadata: .metadataOverrun(file: file, offset: absolutePosition, needed: needed)
        case .table: .tableOverrun(file: file, entry: entry, offset: absolutePosition, needed: needed)
        }
    }
}
