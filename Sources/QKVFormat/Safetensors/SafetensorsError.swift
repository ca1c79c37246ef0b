/// A `.safetensors` file that breaks a rule of the format (huggingface/safetensors `tensor.rs`), or our
/// stricter one: no duplicate keys. Offsets in `data_offsets` are relative to the data buffer.
public enum SafetensorsError: Error, Equatable, Sendable {
    /// Shorter than the 8-byte header length.
    case tooSmall(file: String, size: Int)
    /// The JSON header is longer than the 100,000,000-byte limit.
    case headerTooLarge(file: String, length: UInt64, limit: UInt64)
    /// The header runs past the end of the file.
    case headerPastEnd(file: String, headerLength: UInt64, fileLength: UInt64)
    case headerNotUTF8(file: String)
    /// The header is not JSON (`offset` into the header where parsing stopped).
    case headerNotJSON(file: String, offset: Int, reason: String)
    /// The header is JSON but not an object.
    case headerNotObject(file: String)
    /// A key appears twice in a header object (the reference parser keeps the last one silently).
    case duplicateKey(file: String, key: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(file: String, reason: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one of them has the wrong type.
    case invalidEntry(file: String, tensor: String, reason: String)
    /// A dtype qkv does not read (only F32, F16, BF16, F64, I8, U8, I16, I32, I64 are).
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// `data_offsets` with the end before the begin.
    case reversedOffsets(file: String, tensor: String, begin: UInt64, end: UInt64)
    /// The product of the dimensions, or the byte size, does not fit in 63 bits.
    case elementCountOverflow(file: String, tensor: String, shape: [UInt64])
    /// `end - begin` differs from what the dtype and shape need.
    case byteLengthMismatch(file: String, tensor: String, expected: UInt64, found: UInt64)
    /// Sorted by offset, a tensor starts inside the previous one.
    case overlappingTensor(file: String, tensor: String, begin: UInt64, expected: UInt64)
    /// Sorted by offset, a tensor starts after the end of the previous one.
    case gapBeforeTensor(file: String, tensor: String, begin: UInt64, expected: UInt64)
    /// The tensors do not end exactly at the end of the file: truncated, or trailing bytes.
    case dataLengthMismatch(file: String, tensorsEnd: UInt64, bufferLength: UInt64)
}

extension SafetensorsError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .tooSmall(file, size):
            "\(file): \(size) bytes is too small for a safetensors file (the header length alone is 8 bytes)"
        case let .headerTooLarge(file, length, limit):
            "\(file): header length is \(length) bytes, more than the limit of \(limit) (not a safetensors file?)"
        case let .headerPastEnd(file, length, fileLength):
            "\(file): the \(length)-byte header runs past the end of the \(fileLength)-byte file (truncated?)"
        case let .headerNotUTF8(file):
            "\(file): the header is not valid UTF-8"
        case let .headerNotJSON(file, offset, reason):
            "\(file): the header is not JSON: \(reason) at header byte \(offset)"
        case let .headerNotObject(file):
            "\(file): the header is JSON but not an object"
        case let .duplicateKey(file, key):
            "\(file): the header names '\(key)' more than once"
        case let .invalidMetadata(file, reason):
            "\(file): __metadata__ is invalid: \(reason)"
        case let .invalidEntry(file, tensor, reason):
            "\(file): tensor '\(tensor)' has an invalid header entry: \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype), expected one of F32, F16, BF16, F64, I8, U8, I16, I32, I64"
        case let .reversedOffsets(file, tensor, begin, end):
            "\(file): tensor '\(tensor)' has data_offsets [\(begin), \(end)]: the end is before the begin"
        case let .elementCountOverflow(file, tensor, shape):
            "\(file): tensor '\(tensor)' shape \(shape) has more elements or bytes than fit in 63 bits"
        case let .byteLengthMismatch(file, tensor, expected, found):
            "\(file): tensor '\(tensor)' spans \(found) bytes, expected \(expected) from its dtype and shape"
        case let .overlappingTensor(file, tensor, begin, expected):
            "\(file): tensor '\(tensor)' starts at byte \(begin) of the data, inside the previous tensor (expected \(expected))"
        case let .gapBeforeTensor(file, tensor, begin, expected):
            "\(file): tensor '\(tensor)' starts at byte \(begin) of the data, leaving a gap after the previous tensor (expected \(expected))"
        case let .dataLengthMismatch(file, end, length):
            "\(file): the tensors end at byte \(end) of the data but the data is \(length) bytes" + (end > length ? " (truncated?)" : "")
        }
    }
}
