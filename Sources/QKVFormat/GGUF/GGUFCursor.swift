/// Reads GGUF's little-endian scalars and strings from a mapped file, checking every read against the
/// bytes left (as ggml's `gguf_reader` does), so no length in the file can move a read past its end.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - position }

    /// Returns the next `count` bytes and moves past them; `what` names them in the error.
    mutating func take(_ count: UInt64, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        guard count <= UInt64(remaining) else {
            throw .unexpectedEnd(file: file, offset: position, what: what(), needed: count, available: remaining)
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(count)])
        position += Int(count)
        return slice
    }

    // Loads copy into a local (`loadUnaligned`): GGUF packs its header, nothing there is aligned.
    mutating func u8(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt8 { try take(1, what())[0] }
    mutating func u16(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt16 {
        UInt16(littleEndian: try take(2, what()).loadUnaligned(as: UInt16.self))
    }
    mutating func u32(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt32 {
        UInt32(littleEndian: try take(4, what()).loadUnaligned(as: UInt32.self))
    }
    mutating func u64(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 {
        UInt64(littleEndian: try take(8, what()).loadUnaligned(as: UInt64.self))
    }

    /// A u64 length, at most 1 GiB and at most the bytes left, then that many bytes of UTF-8.
    mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = position
        let length = try u64(what())
        guard length <= GGUFLayout.maxStringLength else {
            throw .stringTooLong(file: file, offset: start, what: what(), length: length, limit: GGUFLayout.maxStringLength)
        }
        let text = try take(length, what())
        guard let string = String(validating: text, as: UTF8.self) else {
            throw .invalidUTF8(file: file, offset: start, what: what())
        }
        return string
    }

    /// `count` fixed-size little-endian values, loaded from one bounds-checked slice.
    mutating func integers<T: FixedWidthInteger>(_ count: Int, as: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> [T] {
        // count <= 2^30 and the size <= 8, so the product cannot overflow.
        let slice = try take(UInt64(count * MemoryLayout<T>.size), what())
        return (0..<count).map { T(littleEndian: slice.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
    }
}

/// GGUF's constants: ggml `include/gguf.h` and `src/gguf.cpp`.
enum GGUFLayout {
    static let magic: [UInt8] = Array("GGUF".utf8)
    static let versions: ClosedRange<UInt32> = 2...3
    /// `GGUF_MAX_STRING_LENGTH`: 1 GiB.
    static let maxStringLength: UInt64 = 1 << 30
    /// `GGUF_MAX_ARRAY_ELEMENTS`.
    static let maxArrayCount: UInt64 = 1 << 30
    /// `GGML_MAX_DIMS`.
    static let maxDimensions: UInt32 = 4
    /// `GGML_MAX_NAME` is 64 including the terminating NUL.
    static let maxNameBytes = 63
    /// `GGUF_DEFAULT_ALIGNMENT`.
    static let defaultAlignment = 32
    static let alignmentKey = "general.alignment"
    /// Smallest possible key-value pair: u64 key length, one key byte, u32 type, one value byte.
    static let minimumPairBytes = 14
    /// Smallest possible tensor info: u64 name length, one name byte, u32 n_dims, u32 type, u64 offset.
    static let minimumInfoBytes = 25

    /// `x` rounded up to a multiple of `alignment` (a power of two), or nil on overflow.
    static func align(_ x: UInt64, _ alignment: Int) -> UInt64? {
        let a = UInt64(alignment)
        let (sum, overflow) = x.addingReportingOverflow(a - 1)
        return overflow ? nil : sum & ~(a - 1)
    }
}
