/// A `.qkv` file that breaks a rule of Specs/qkv-format.md. Offsets are absolute byte offsets in the
/// file unless a case says otherwise.
public enum QKVFileError: Error, Equatable, Sendable {
    /// Shorter than the 64-byte fixed header.
    case tooSmall(file: String, size: Int)
    case badMagic(file: String, found: [UInt8])
    case unsupportedVersion(file: String, major: UInt16, minor: UInt16)
    /// The byte-order mark is not little-endian `0x0A0B0C0D`.
    case badByteOrder(file: String, found: UInt32)
    case reservedNotZero(file: String, value: UInt32)
    /// The header's file length differs from the real one: a truncated download or trailing bytes.
    case lengthMismatch(file: String, recorded: UInt64, actual: UInt64)
    /// A count or length beyond the limits of Specs/qkv-format.md.
    case limitExceeded(file: String, what: String, value: UInt64, limit: UInt64)
    /// Header, metadata and table together run past the data offset or the file.
    case sectionsOutOfBounds(file: String, metadataLength: UInt64, tableLength: UInt64, dataOffset: UInt64, fileLength: UInt64)
    case dataOffsetMismatch(file: String, expected: UInt64, found: UInt64)
    case headerChecksumMismatch(file: String, stored: UInt32, computed: UInt32)
    /// A metadata entry needs bytes past the end of the metadata section.
    case metadataOverrun(file: String, offset: Int, needed: Int)
    case invalidKeyLength(file: String, offset: Int, length: Int)
    /// A key, name or string value is not valid UTF-8.
    case invalidUTF8(file: String, offset: Int, field: String)
    case unknownValueType(file: String, key: String, type: UInt8)
    case invalidBool(file: String, key: String, byte: UInt8)
    case duplicateKey(file: String, key: String)
    /// Bytes left in a section after its last entry.
    case trailingSectionBytes(file: String, section: String, offset: Int, count: Int)
    /// A table entry needs bytes past the end of the tensor table.
    case tableOverrun(file: String, entry: Int, offset: Int, needed: Int)
    case invalidNameLength(file: String, offset: Int, length: Int)
    case duplicateTensor(file: String, tensor: String)
    case unknownDType(file: String, tensor: String, code: UInt8)
    case unknownRole(file: String, tensor: String, code: UInt16)
    case rankTooLarge(file: String, tensor: String, rank: Int)
    /// Block size, scale dtype or layout disagree with the dtype.
    case invalidBlockFields(file: String, tensor: String, dtype: DType, blockSize: UInt16, scaleType: UInt8, layout: UInt8)
    /// The product of the dimensions, or the byte size, does not fit in 63 bits.
    case elementCountOverflow(file: String, tensor: String, shape: [UInt64])
    /// A block-quantised tensor whose last dimension is not a whole number of blocks.
    case partialBlock(file: String, tensor: String, lastDimension: Int, blockSize: Int)
    case byteLengthMismatch(file: String, tensor: String, expected: UInt64, found: UInt64)
    /// A tensor offset that is not a multiple of 64.
    case misalignedTensor(file: String, tensor: String, offset: UInt64)
    /// A tensor starting inside the previous one.
    case overlappingTensor(file: String, tensor: String, offset: UInt64, expected: UInt64)
    /// A tensor starting after the padded end of the previous one.
    case gapBeforeTensor(file: String, tensor: String, offset: UInt64, expected: UInt64)
    /// A tensor's bytes run past the end of the file.
    case tensorPastEnd(file: String, tensor: String, end: UInt64, fileLength: UInt64)
    /// Bytes after the last tensor.
    case trailingBytes(file: String, dataEnd: UInt64, fileLength: UInt64)
    /// `validate --deep`: a tensor's bytes do not match its CRC-32.
    case tensorChecksumMismatch(file: String, tensor: String, stored: UInt32, computed: UInt32)
    /// `validate --deep`: a padding byte is not zero.
    case nonZeroPadding(file: String, offset: Int)
}

extension QKVFileError: CustomStringConvertible {
    public var description: String {
        func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16, uppercase: true).leftPadded(to: 8) }
        switch self {
        case let .tooSmall(file, size):
            return "\(file): \(size) bytes is too small for a .qkv file (the fixed header alone is 64 bytes)"
        case let .badMagic(file, found):
            return "\(file): not a .qkv file: magic is \(found.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")), expected 89 51 4b 56 0d 0a 1a 0a"
        case let .unsupportedVersion(file, major, minor):
            return "\(file): .qkv version \(major).\(minor) is not supported (this qkv reads version 1.x)"
        case let .badByteOrder(file, found):
            return "\(file): byte-order mark is \(hex(found)), expected 0x0A0B0C0D (little-endian)"
        case let .reservedNotZero(file, value):
            return "\(file): reserved header word at byte 60 is \(hex(value)), expected 0"
        case let .lengthMismatch(file, recorded, actual):
            return "\(file): header says the file is \(recorded) bytes but it is \(actual) bytes" + (actual < recorded ? " (truncated?)" : " (trailing bytes)")
        case let .limitExceeded(file, what, value, limit):
            return "\(file): \(what) is \(value), more than the limit of \(limit)"
        case let .sectionsOutOfBounds(file, m, l, d, length):
            return "\(file): header (64 bytes), metadata (\(m) bytes) and tensor table (\(l) bytes) do not fit before the data offset \(d) in a \(length)-byte file"
        case let .dataOffsetMismatch(file, expected, found):
            return "\(file): data offset is \(found), expected \(expected) (the end of the tensor table rounded up to 64)"
        case let .headerChecksumMismatch(file, stored, computed):
            return "\(file): header checksum is \(hex(computed)) but the header stores \(hex(stored)): header, metadata or tensor table is corrupt"
        case let .metadataOverrun(file, offset, needed):
            return "\(file): metadata entry at byte \(offset) needs \(needed) more bytes than the metadata section holds"
        case let .invalidKeyLength(file, offset, length):
            return "\(file): metadata key at byte \(offset) has length \(length), expected 1 to 255"
        case let .invalidUTF8(file, offset, field):
            return "\(file): \(field) at byte \(offset) is not valid UTF-8"
        case let .unknownValueType(file, key, type):
            return "\(file): metadata key '\(key)' has value type \(type), expected one of 1, 2, 3, 4, 16, 17, 18, 19, 20"
        case let .invalidBool(file, key, byte):
            return "\(file): metadata key '\(key)' is a bool stored as \(byte), expected 0 or 1"
        case let .duplicateKey(file, key):
            return "\(file): metadata key '\(key)' appears more than once"
        case let .trailingSectionBytes(file, section, offset, count):
            return "\(file): \(count) bytes at byte \(offset) after the last entry of the \(section)"
        case let .tableOverrun(file, entry, offset, needed):
            return "\(file): tensor table entry \(entry) at byte \(offset) needs \(needed) more bytes than the table holds"
        case let .invalidNameLength(file, offset, length):
            return "\(file): tensor name at byte \(offset) has length \(length), expected 1 to 1024"
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor '\(tensor)' appears more than once in the tensor table"
        case let .unknownDType(file, tensor, code):
            return "\(file): tensor '\(tensor)' has dtype code \(code), expected one of \(DType.allCases.map { "\($0.rawValue) (\($0))" }.joined(separator: ", "))"
        case let .unknownRole(file, tensor, code):
            return "\(file): tensor '\(tensor)' has role code \(code), which Specs/schema.md does not define"
        case let .rankTooLarge(file, tensor, rank):
            return "\(file): tensor '\(tensor)' has rank \(rank), more than the limit of 8"
        case let .invalidBlockFields(file, tensor, dtype, size, scale, layout):
            return "\(file): tensor '\(tensor)' of dtype \(dtype) has block size \(size), scale dtype \(scale), layout \(layout); expected " + { let (a, b, c) = QKVLayout.blockFields(for: dtype); return "\(a), \(b), \(c)" }()
        case let .elementCountOverflow(file, tensor, shape):
            return "\(file): tensor '\(tensor)' shape \(shape) has more elements or bytes than fit in 63 bits"
        case let .partialBlock(file, tensor, last, block):
            return "\(file): tensor '\(tensor)' has last dimension \(last), not a multiple of its block size \(block)"
        case let .byteLengthMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)' has byte length \(found), expected \(expected) from its dtype and shape"
        case let .misalignedTensor(file, tensor, offset):
            return "\(file): tensor '\(tensor)' starts at data offset \(offset), not a multiple of 64"
        case let .overlappingTensor(file, tensor, offset, expected):
            return "\(file): tensor '\(tensor)' starts at data offset \(offset), inside the previous tensor (expected \(expected))"
        case let .gapBeforeTensor(file, tensor, offset, expected):
            return "\(file): tensor '\(tensor)' starts at data offset \(offset), leaving a gap after the previous tensor (expected \(expected))"
        case let .tensorPastEnd(file, tensor, end, length):
            return "\(file): tensor '\(tensor)' ends at byte \(end), past the end of the file (\(length) bytes; truncated?)"
        case let .trailingBytes(file, end, length):
            return "\(file): the last tensor ends at byte \(end) but the file has \(length) bytes"
        case let .tensorChecksumMismatch(file, tensor, stored, computed):
            return "\(file): tensor '\(tensor)' has CRC-32 \(hex(computed)) but the table stores \(hex(stored)): its data is corrupt"
        case let .nonZeroPadding(file, offset):
            return "\(file): padding byte at \(offset) is not zero"
        }
    }
}
