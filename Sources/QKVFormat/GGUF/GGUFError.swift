/// A GGUF file that breaks a rule of ggml's reader (ggml-org/ggml `src/gguf.cpp`, `gguf_init_from_reader`),
/// of llama.cpp's loader (tensor data inside the file), or one of ours (UTF-8 strings, bools 0 or 1,
/// non-empty tensor names without NUL). Offsets are absolute byte offsets in the file; tensor offsets are
/// relative to the start of the data section, as GGUF stores them.
public enum GGUFError: Error, Equatable, Sendable {
    /// A read needs more bytes than the file has left: a truncated header, key, value or tensor info.
    case unexpectedEnd(file: String, offset: Int, what: String, needed: UInt64, available: Int)
    /// A shard of a split model (gguf-split's `split.*` keys) that does not fit with the others: not the
    /// first shard, a shard missing, numbered wrong, or a tensor in two shards.
    case splitShard(file: String, reason: String)
    /// The first four bytes are not `GGUF`.
    case badMagic(file: String, found: [UInt8])
    /// Version 0, version 1 (GGUFv1, which ggml no longer reads) or newer than 3.
    case unsupportedVersion(file: String, version: UInt32)
    /// The version's low 16 bits are zero: a file written in the other byte order (big-endian GGUF).
    case wrongByteOrder(file: String, version: UInt32)
    /// The tensor or key-value count is negative as ggml's int64, or more than the bytes left can hold.
    case countOutOfRange(file: String, what: String, count: UInt64, limit: UInt64)
    /// A key, string value or tensor name longer than 1 GiB (ggml's `GGUF_MAX_STRING_LENGTH`).
    case stringTooLong(file: String, offset: Int, what: String, length: UInt64, limit: UInt64)
    /// A key, string value or tensor name that is not UTF-8 (ours: the GGUF spec says UTF-8, ggml does not check).
    case invalidUTF8(file: String, offset: Int, what: String)
    /// A metadata key of length 0.
    case emptyKey(file: String, index: Int, offset: Int)
    /// A metadata key that an earlier pair already has.
    case duplicateKey(file: String, key: String, offset: Int)
    /// A value type, or an array's element type, outside ggml's 13 types (codes 0 to 12).
    case invalidValueType(file: String, key: String, type: UInt32)
    /// An array whose elements are arrays (ggml reads one level only).
    case nestedArray(file: String, key: String)
    /// An array of more than 2^30 elements (ggml's `GGUF_MAX_ARRAY_ELEMENTS`).
    case arrayTooLong(file: String, key: String, count: UInt64, limit: UInt64)
    /// A bool stored as a byte other than 0 or 1 (ours: ggml reads any non-zero byte as true).
    case invalidBool(file: String, key: String, offset: Int, byte: UInt8)
    /// `general.alignment` has a type other than u32.
    case alignmentNotU32(file: String, type: GGUFValueType)
    /// `general.alignment` is zero or not a power of two.
    case invalidAlignment(file: String, alignment: UInt32)
    /// A tensor name that is empty (ours), 64 bytes or longer (ggml's `GGML_MAX_NAME` counts the NUL) or
    /// holds a NUL byte (ours: ggml would cut the name there).
    case invalidTensorName(file: String, index: Int, offset: Int, name: String)
    /// A tensor name that an earlier tensor info already has.
    case duplicateTensor(file: String, tensor: String)
    /// More than 4 dimensions (ggml's `GGML_MAX_DIMS`).
    case tooManyDimensions(file: String, tensor: String, count: UInt32)
    /// A dimension that is negative as ggml's int64.
    case negativeDimension(file: String, tensor: String, index: Int, value: Int64)
    /// The element count, or the byte size, does not fit in 63 bits.
    case elementCountOverflow(file: String, tensor: String, dims: [Int64])
    /// A ggml type code that is unknown or that ggml removed from GGUF (Q4_2, Q4_3, Q4_0_4_4, ...).
    case invalidTensorType(file: String, tensor: String, code: UInt32)
    /// The first (fastest) dimension is not a whole number of the type's blocks.
    case partialBlock(file: String, tensor: String, type: GGMLType, firstDimension: Int64, blockSize: Int)
    /// A tensor offset other than the sum of the padded sizes of the tensors before it.
    case tensorOffsetMismatch(file: String, tensor: String, offset: UInt64, expected: UInt64)
    /// The data section, which starts at the end of the tensor infos rounded up to the alignment, starts
    /// past the end of the file.
    case dataStartPastEnd(file: String, dataStart: UInt64, fileLength: UInt64)
    /// A tensor's bytes run past the end of the file (llama.cpp: "data is not within the file bounds").
    case tensorPastEnd(file: String, tensor: String, end: UInt64, fileLength: UInt64)
    /// `tensor(_:)` was asked for a name the file does not have.
    case noSuchTensor(file: String, tensor: String)
    /// `tensor(_:)` of a tensor whose ggml type has no qkv dtype (Q4_0, Q4_K, ...): its info is readable,
    /// its values are not.
    case unsupportedTensorType(file: String, tensor: String, type: GGMLType)
}

extension GGUFError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .unexpectedEnd(file, offset, what, needed, available):
            return "\(file): reading the \(what) at byte \(offset) needs \(needed) bytes but only \(available) are left (truncated?)"
        case let .badMagic(file, found):
            return "\(file): not a GGUF file: it starts with \(found.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")), expected 47 47 55 46 (\"GGUF\")"
        case let .unsupportedVersion(file, version):
            switch version {
            case 0: return "\(file): GGUF version 0 is not a valid version"
            case 1: return "\(file): GGUF version 1 is no longer supported (ggml reads versions 2 and 3)"
            default: return "\(file): GGUF version \(version) is newer than the versions qkv reads (2 and 3)"
            }
        case let .wrongByteOrder(file, version):
            return "\(file): GGUF version reads as \(version) (0x\(String(version, radix: 16))): the file is big-endian, qkv reads little-endian GGUF"
        case let .countOutOfRange(file, what, count, limit):
            return "\(file): the \(what) is \(count), more than the \(limit) that fit in the rest of the file" + (count > UInt64(Int64.max) ? " (negative as an int64)" : "")
        case let .stringTooLong(file, offset, what, length, limit):
            return "\(file): the \(what) at byte \(offset) has length \(length), more than the limit of \(limit)"
        case let .invalidUTF8(file, offset, what):
            return "\(file): the \(what) at byte \(offset) is not valid UTF-8"
        case let .emptyKey(file, index, offset):
            return "\(file): metadata key \(index) at byte \(offset) is empty"
        case let .duplicateKey(file, key, offset):
            return "\(file): metadata key '\(key)' at byte \(offset) appears more than once"
        case let .invalidValueType(file, key, type):
            return "\(file): metadata key '\(key)' has value type \(Int32(bitPattern: type)), expected 0 to 12"
        case let .nestedArray(file, key):
            return "\(file): metadata key '\(key)' is an array of arrays, which GGUF does not allow"
        case let .arrayTooLong(file, key, count, limit):
            return "\(file): metadata key '\(key)' is an array of \(count) elements, more than the limit of \(limit)"
        case let .invalidBool(file, key, offset, byte):
            return "\(file): metadata key '\(key)' is a bool stored as \(byte) at byte \(offset), expected 0 or 1"
        case let .alignmentNotU32(file, type):
            return "\(file): general.alignment is a \(type), expected a u32"
        case let .invalidAlignment(file, alignment):
            return "\(file): general.alignment is \(alignment), expected a power of two"
        case let .invalidTensorName(file, index, offset, name):
            let reason = name.isEmpty ? "is empty" : name.utf8.contains(0) ? "contains a NUL byte" : "is \(name.utf8.count) bytes long"
            return "\(file): the name of tensor \(index) at byte \(offset) \(reason); expected 1 to 63 bytes without NUL"
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor '\(tensor)' appears more than once"
        case let .tooManyDimensions(file, tensor, count):
            return "\(file): tensor '\(tensor)' has \(count) dimensions, more than the limit of 4"
        case let .negativeDimension(file, tensor, index, value):
            return "\(file): tensor '\(tensor)' has dimension \(index) of \(value), expected 0 or more"
        case let .elementCountOverflow(file, tensor, dims):
            return "\(file): tensor '\(tensor)' with dimensions \(dims) has more elements or bytes than fit in 63 bits"
        case let .invalidTensorType(file, tensor, code):
            if let removed = GGMLType.removedName(code: code) {
                return "\(file): tensor '\(tensor)' has ggml type \(code) (\(removed)), which ggml removed from GGUF"
            }
            return "\(file): tensor '\(tensor)' has ggml type \(Int32(bitPattern: code)), expected a ggml type code from 0 to \(GGMLType.codeLimit - 1)"
        case let .partialBlock(file, tensor, type, first, block):
            return "\(file): tensor '\(tensor)' of type \(type) has \(first) elements per row, not a multiple of its block size \(block)"
        case let .tensorOffsetMismatch(file, tensor, offset, expected):
            return "\(file): tensor '\(tensor)' has data offset \(offset), expected \(expected) (the padded end of the tensor before it)"
        case let .dataStartPastEnd(file, start, length):
            return "\(file): the data section would start at byte \(start), past the end of the file (\(length) bytes; truncated?)"
        case let .tensorPastEnd(file, tensor, end, length):
            return "\(file): tensor '\(tensor)' ends at byte \(end), past the end of the file (\(length) bytes; truncated?)"
        case let .splitShard(file, reason):
            return "\(file): split GGUF: \(reason)"
        case let .noSuchTensor(file, tensor):
            return "\(file): no tensor is named '\(tensor)'"
        case let .unsupportedTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor)' has ggml type \(type), which qkv cannot read as values (it reads F32, F16, BF16, F64, the integers and the block types of Specs/quantization.md)"
        }
    }
}
