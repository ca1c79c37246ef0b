/// The stored (uncompressed) entries of a zip archive mapped in memory: what torch.save writes. Every
/// offset and size comes from the central directory (ZIP64 fields included) and is checked against the
/// file and the entry's local header before an entry's bytes are handed out.
struct ZipArchive {
    struct Entry {
        let name: String
        /// The entry's bytes within the archive.
        let data: Range<Int>
    }

    let path: String
    let entries: [String: Entry]

    init(path: String, bytes: UnsafeRawBufferPointer) throws(PyTorchError) {
        self.path = path
        let size = bytes.count
        func u16(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func u32(_ at: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) throws(PyTorchError) -> Int {
            let value = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            guard value <= UInt64(Int.max) else { throw .badZip(file: path, offset: at, reason: "a 64-bit size or offset of \(value)") }
            return Int(value)
        }

        // The end-of-central-directory record: the last signature within the final 64 KiB + 22 bytes.
        var end = -1
        if size >= 22 {
            for at in stride(from: size - 22, through: max(0, size - 22 - 65_535), by: -1) where u32(at) == 0x0605_4B50 {
                end = at
                break
            }
        }
        guard end >= 0 else { throw .notAZip(file: path) }
        var count = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: the locator just before the record points at the 64-bit record.
            guard end >= 20, u32(end - 20) == 0x0706_4B50 else { throw .badZip(file: path, offset: end, reason: "ZIP64 sizes without a ZIP64 locator") }
            let record = try u64(end - 12)
            guard record <= size - 56, u32(record) == 0x0606_4B50 else { throw .badZip(file: path, offset: record, reason: "no ZIP64 end-of-directory record here") }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryOffset = try u64(record + 48)
        }
        guard directoryOffset <= size, directorySize <= size - directoryOffset, count <= directorySize / 46 else {
            throw .badZip(file: path, offset: end, reason: "a central directory of \(count) entries, \(directorySize) bytes at \(directoryOffset), does not fit the \(size)-byte file")
        }

        var entries: [String: Entry] = [:]
        var at = directoryOffset
        for _ in 0..<count {
            guard at <= directoryOffset + directorySize - 46, u32(at) == 0x0201_4B50 else {
                throw .badZip(file: path, offset: at, reason: "expected a central directory header")
            }
            let flags = u16(at + 8), method = u16(at + 10)
            var compressed = u32(at + 20), uncompressed = u32(at + 24)
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            var local = u32(at + 42)
            let headerEnd = at + 46 + nameLength + extraLength + commentLength
            guard headerEnd <= directoryOffset + directorySize else { throw .badZip(file: path, offset: at, reason: "a header runs past the central directory") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(at + 46)..<(at + 46 + nameLength)]), as: UTF8.self)
            // ZIP64 extra field: the 64-bit values of the fields set to all ones, in this order.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra), length = u16(extra + 2)
                guard extra + 4 + length <= extraEnd else { throw .badZip(file: path, offset: extra, reason: "an extra field runs past its header") }
                if id == 0x0001 {
                    var field = extra + 4
                    let fieldEnd = extra + 4 + length
                    func next() throws(PyTorchError) -> Int {
                        guard field + 8 <= fieldEnd else { throw .badZip(file: path, offset: field, reason: "a short ZIP64 extra field") }
                        defer { field += 8 }
                        return try u64(field)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                extra += 4 + length
            }
            guard flags & 1 == 0 else { throw .unsupportedEntry(file: path, entry: name, reason: "is encrypted") }
            guard method == 0, compressed == uncompressed else {
                throw .unsupportedEntry(file: path, entry: name, reason: "is compressed (method \(method)); torch.save stores entries uncompressed, and qkv maps them in place")
            }
            guard local <= size - 30, u32(local) == 0x0403_4B50 else { throw .badZip(file: path, offset: local, reason: "no local header for '\(name)' here") }
            let dataStart = local + 30 + u16(local + 26) + u16(local + 28)
            guard dataStart <= size, compressed <= size - dataStart else {
                throw .badZip(file: path, offset: local, reason: "the \(compressed) bytes of '\(name)' run past the end of the file (truncated?)")
            }
            guard entries[name] == nil else { throw .badZip(file: path, offset: at, reason: "'\(name)' is in the archive twice") }
            entries[name] = Entry(name: name, data: dataStart..<(dataStart + compressed))
            at = headerEnd
        }
        self.entries = entries
    }
}
