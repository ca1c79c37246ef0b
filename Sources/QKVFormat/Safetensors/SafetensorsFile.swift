/// A `.safetensors` file: mapped read-only, its header validated completely at open with every rule of
/// the reference parser (huggingface/safetensors `tensor.rs`, listed in ../Specs via formats.md) plus
/// one of ours, no duplicate keys; then read through zero-copy views.
///
/// Tensor names are the file's own (Hugging Face names); `ModelImport` maps them to the schema.
public final class SafetensorsFile: Sendable {
    public struct Entry: Equatable, Sendable {
        public var info: TensorInfo
        /// The dtype as the header spells it (`F32`, `BF16`, ...).
        public var dtypeName: String
        /// Byte range in the data buffer (after the header).
        public var begin: Int
        public var end: Int
    }

    public let path: String
    /// `__metadata__`, in header order.
    public let metadata: [(key: String, value: String)]
    /// In header order.
    public let entries: [Entry]
    /// Absolute offset of the data buffer: 8 + header length.
    public let dataStart: Int
    let mapping: MappedFile
    private let index: [String: Int]

    /// Largest header the reference parser accepts.
    public static let maxHeaderLength: UInt64 = 100_000_000

    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        let parsed = try SafetensorsFile.parse(mapping.bytes, file: path)
        self.path = path
        self.mapping = mapping
        self.metadata = parsed.metadata
        self.entries = parsed.entries
        self.dataStart = parsed.dataStart
        self.index = Dictionary(parsed.entries.enumerated().map { ($1.info.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public var tensors: [TensorInfo] { entries.map(\.info) }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// A zero-copy view of tensor `name`.
    public func tensor(_ name: String) throws -> TensorView {
        guard let i = index[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        let entry = entries[i]
        return TensorView(info: entry.info, storage: mapping,
                          bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[dataStart + entry.begin..<dataStart + entry.end]))
    }

    /// The dtypes qkv reads, by their safetensors names.
    static let dtypes: [String: DType] = [
        "F32": .f32, "F16": .f16, "BF16": .bf16, "F64": .f64, "I8": .i8, "U8": .u8, "I16": .i16, "I32": .i32, "I64": .i64,
    ]

    struct Parsed {
        var metadata: [(key: String, value: String)]
        var entries: [Entry]
        var dataStart: Int
    }

    /// Validates `bytes` as a whole safetensors file, in the reference parser's order.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(SafetensorsError) -> Parsed {
        guard bytes.count >= 8 else { throw .tooSmall(file: file, size: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= maxHeaderLength else { throw .headerTooLarge(file: file, length: headerLength, limit: maxHeaderLength) }
        // headerLength is bounded, so 8 + headerLength cannot overflow.
        guard 8 + headerLength <= UInt64(bytes.count) else {
            throw .headerPastEnd(file: file, headerLength: headerLength, fileLength: UInt64(bytes.count))
        }
        let headerBytes = Array(bytes[8..<8 + Int(headerLength)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw .headerNotUTF8(file: file) }
        let header: JSONValue
        do {
            header = try JSONParser.parse(headerBytes)
        } catch {
            throw .headerNotJSON(file: file, offset: error.offset, reason: error.reason)
        }
        guard case .object(let members) = header else { throw .headerNotObject(file: file) }

        var seen = Set<String>()
        var metadata: [(key: String, value: String)] = []
        var entries: [Entry] = []
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw .duplicateKey(file: file, key: name) }
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw .invalidMetadata(file: file, reason: "not an object") }
                var keys = Set<String>()
                for (key, v) in pairs {
                    guard keys.insert(key).inserted else { throw .duplicateKey(file: file, key: "__metadata__.\(key)") }
                    guard let s = v.stringValue else { throw .invalidMetadata(file: file, reason: "value of '\(key)' is not a string") }
                    metadata.append((key, s))
                }
                continue
            }
            entries.append(try entry(name, value, file: file))
        }

        // Sorted by offset, the tensors must tile the data buffer exactly from 0.
        let bufferLength = UInt64(bytes.count) - 8 - headerLength
        var expected: UInt64 = 0
        for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            let begin = UInt64(entry.begin)
            if begin < expected { throw .overlappingTensor(file: file, tensor: entry.info.name, begin: begin, expected: expected) }
            if begin > expected { throw .gapBeforeTensor(file: file, tensor: entry.info.name, begin: begin, expected: expected) }
            expected = UInt64(entry.end)
        }
        guard expected == bufferLength else { throw .dataLengthMismatch(file: file, tensorsEnd: expected, bufferLength: bufferLength) }
        return Parsed(metadata: metadata, entries: entries, dataStart: 8 + Int(headerLength))
    }

    private static func entry(_ name: String, _ value: JSONValue, file: String) throws(SafetensorsError) -> Entry {
        guard case .object(let fields) = value else { throw .invalidEntry(file: file, tensor: name, reason: "not an object") }
        var keys = Set<String>()
        for (key, _) in fields where !keys.insert(key).inserted { throw .duplicateKey(file: file, key: "\(name).\(key)") }
        for key in ["dtype", "shape", "data_offsets"] where !keys.contains(key) {
            throw .invalidEntry(file: file, tensor: name, reason: "no '\(key)'")
        }
        guard let dtypeName = value["dtype"]?.stringValue else { throw .invalidEntry(file: file, tensor: name, reason: "'dtype' is not a string") }
        guard let dims = value["shape"]?.arrayValue else { throw .invalidEntry(file: file, tensor: name, reason: "'shape' is not an array") }
        var shape: [UInt64] = []
        for dim in dims {
            guard let d = dim.uint64Value else { throw .invalidEntry(file: file, tensor: name, reason: "'shape' holds \(dim.text), not a non-negative integer") }
            shape.append(d)
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].uint64Value, let end = offsets[1].uint64Value else {
            throw .invalidEntry(file: file, tensor: name, reason: "'data_offsets' is not two non-negative integers")
        }
        guard let dtype = dtypes[dtypeName] else { throw .unsupportedDType(file: file, tensor: name, dtype: dtypeName) }
        guard end >= begin else { throw .reversedOffsets(file: file, tensor: name, begin: begin, end: end) }
        guard shape.allSatisfy({ $0 <= UInt64(Int.max) }),
              let bytes = dtype.byteCount(for: shape.map { Int($0) }) else {
            throw .elementCountOverflow(file: file, tensor: name, shape: shape)
        }
        guard end - begin == UInt64(bytes) else {
            throw .byteLengthMismatch(file: file, tensor: name, expected: UInt64(bytes), found: end - begin)
        }
        // end - begin fits in Int (it equals `bytes`); begin is checked against the buffer by the tiling.
        guard begin <= UInt64(Int.max) - UInt64(bytes) else { throw .elementCountOverflow(file: file, tensor: name, shape: shape) }
        return Entry(info: TensorInfo(name: name, role: nil, dtype: dtype, shape: shape.map { Int($0) }),
                     dtypeName: dtypeName, begin: Int(begin), end: Int(end))
    }
}
