/// An HDF5 file that qkv cannot read as its layout (Specs/hdf5-layout.md), or a libhdf5 call that failed.
public enum HDF5Error: Error, Equatable, Sendable {
    /// A libhdf5 call failed; `message` is libhdf5's most specific explanation.
    case libraryCall(file: String, function: String, object: String, message: String)
    /// The root has no `qkv_format = "qkv-hdf5"` attribute; `found` is what it has instead, nil when the
    /// attribute is missing (the file may then be another program's layout).
    case notQKVLayout(file: String, found: String?)
    case unsupportedVersion(file: String, version: Int64)
    /// An attribute or dataset whose HDF5 type qkv does not map to the schema.
    case unsupportedType(file: String, object: String, type: String)
    /// A metadata attribute that is not a scalar, or a metadata array that is not one-dimensional.
    case badMetadataShape(file: String, object: String, rank: Int)
    /// A bool stored as an integer other than 0 or 1.
    case invalidBool(file: String, object: String, value: Int64)
    /// A tensor's `dtype` attribute disagrees with its HDF5 type, or a u16 tensor lacks `dtype = "bf16"`.
    case dtypeAttributeMismatch(file: String, tensor: String, attribute: String, storedAs: String)
    /// A link that is not a hard link to a group or dataset (soft and external links are refused).
    case unsupportedLink(file: String, object: String, kind: String)
    /// A dataset shape with too many dimensions or more elements than fit in 63 bits.
    case badTensorShape(file: String, tensor: String, dimensions: [UInt64])
    /// A block-quantized tensor whose rows (the last dimension, in bytes) are not whole blocks.
    case partialBlockRow(file: String, tensor: String, dtype: DType, rowBytes: UInt64, blockBytes: Int)
    /// A metadata array or tensor that declares more bytes than qkv will allocate for it.
    case tooLarge(file: String, object: String, bytes: UInt64, limit: UInt64)
    /// Groups nested deeper than the layout allows, or a group reachable twice (a cycle).
    case badGroupStructure(file: String, object: String, reason: String)
    /// A dataset whose storage qkv refuses before libhdf5 reads it (Specs/hdf5-layout.md, "Hostile files"):
    /// external or virtual storage, a filter other than deflate, shuffle and fletcher32, data never written
    /// (libhdf5 would return fill values), contiguous data outside the file, or more than 1100 bytes
    /// declared per byte stored (a compression bomb).
    case unsafeStorage(file: String, object: String, reason: String)
    /// A variable-length string qkv refuses before libhdf5 would copy it (Specs/hdf5-layout.md, "Hostile
    /// files"): its global heap collection is malformed (an object past the collection's end, an index
    /// twice, misplaced free space, a size under the format's minimum or past the file), or the string
    /// names an object that is not there or whose size is not the string's length.
    case unsafeStructure(file: String, object: String, reason: String)
}

extension HDF5Error: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .libraryCall(file, function, object, message):
            "\(file): libhdf5 \(function) failed on '\(object)'" + (message.isEmpty ? "" : ": \(message)")
        case let .notQKVLayout(file, found):
            "\(file): an HDF5 file but not in the qkv layout (root attribute qkv_format is \(found ?? "missing"), expected \"qkv-hdf5\"; see Specs/hdf5-layout.md)"
        case let .unsupportedVersion(file, version):
            "\(file): qkv HDF5 layout version \(version) is not supported (this qkv reads version 1)"
        case let .unsupportedType(file, object, type):
            "\(file): '\(object)' has HDF5 type \(type), which the qkv layout does not use"
        case let .badMetadataShape(file, object, rank):
            "\(file): metadata '\(object)' has rank \(rank); scalars are attributes and arrays one-dimensional datasets"
        case let .invalidBool(file, object, value):
            "\(file): bool '\(object)' is \(value), expected 0 or 1"
        case let .dtypeAttributeMismatch(file, tensor, attribute, storedAs):
            "\(file): tensor '\(tensor)' has dtype attribute \(attribute) but is stored as \(storedAs)"
        case let .unsupportedLink(file, object, kind):
            "\(file): '\(object)' is \(kind.first.map { "aeiou".contains($0) } == true ? "an" : "a") \(kind); the qkv layout uses only hard links to groups and datasets"
        case let .badTensorShape(file, tensor, dims):
            "\(file): tensor '\(tensor)' has dimensions \(dims): more than 8, or more elements than fit in 63 bits"
        case let .partialBlockRow(file, tensor, dtype, rowBytes, blockBytes):
            "\(file): tensor '\(tensor)' of dtype \(dtype) has rows of \(rowBytes) bytes, not a whole number of its \(blockBytes)-byte blocks"
        case let .tooLarge(file, object, bytes, limit):
            "\(file): '\(object)' declares \(bytes) bytes, more than the limit of \(limit)"
        case let .badGroupStructure(file, object, reason):
            "\(file): '\(object)': \(reason)"
        case let .unsafeStorage(file, object, reason):
            "\(file): dataset '\(object)' is refused before reading: \(reason)"
        case let .unsafeStructure(file, object, reason):
            "\(file): '\(object)' is refused before reading: \(reason)"
        }
    }
}
