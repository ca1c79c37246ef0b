import Foundation

/// One tensor info of a GGUF file: name, ggml type, dimensions and where its bytes are.
public struct GGUFTensorInfo: Equatable, Sendable {
    public var name: String
    public var type: GGMLType
    /// GGUF order, fastest-varying first (ggml's `ne[0], ne[1], ...`): a `[rows, columns]` matrix is
    /// `[columns, rows]` here. Empty for a scalar.
    public var dims: [Int]
    /// From the start of the data section.
    public var offset: Int
    /// Exact bytes of data, without the padding that follows.
    public var byteCount: Int

    /// The type code as stored in the file.
    public var typeCode: UInt32 { type.rawValue }
    /// Row-major, outermost first: `dims` reversed, the shape of `GGUFFile.tensor(_:)`'s view.
    public var shape: [Int] { dims.reversed() }
}

/// A GGUF file (version 2 or 3, little-endian): mapped read-only, validated completely at open with every
/// rule of ggml's reader (ggml-org/ggml `src/gguf.cpp`), then read through zero-copy views.
///
/// Names and metadata are the file's own (llama.cpp's `blk.N.attn_q.weight`, `llama.block_count`);
/// mapping them to the schema is not this type's job.
public final class GGUFFile: Sendable {
    public let path: String
    /// 2 or 3: the two versions share one layout (3 only adds big-endian files, which qkv does not read).
    public let version: UInt32
    /// `general.alignment` if present, else 32.
    public let alignment: Int
    /// In file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// In file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// The files of a model split by gguf-split (`-00001-of-0000N.gguf`), in order; one for a whole file.
    public let shardPaths: [String]
    /// Each shard's mapping and the absolute offset of its data section (the end of its tensor infos
    /// rounded up to `alignment`).
    private let shards: [(mapping: MappedFile, dataStart: Int)]
    /// For each tensor info, the shard holding its bytes.
    private let tensorShard: [Int]
    private let keyIndex: [GGUFName: Int]
    private let tensorIndex: [GGUFName: Int]

    /// gguf-split's keys: which shard a file is, of how many, and the tensors of all of them.
    static let splitKeys: Set<String> = ["split.no", "split.count", "split.tensors.count"]

    /// Maps and validates `path`. Throws `IOError` when the file cannot be read and `GGUFError` for the
    /// first rule it breaks. The first shard of a split model (a `split.count` above 1) opens every
    /// shard, each validated, as one file: its keys are the first shard's but gguf-split's own, its
    /// tensors those of all shards.
    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        let parsed = try GGUFFile.parse(mapping.bytes, file: path)
        self.path = path
        self.version = parsed.version
        self.alignment = parsed.alignment
        // gguf-split's keys describe the container (which shard, of how many), not the model.
        let kept = parsed.metadata.filter { !GGUFFile.splitKeys.contains($0.key) }
        self.metadata = kept
        self.keyIndex = kept.count == parsed.metadata.count ? parsed.keyIndex
            : Dictionary(uniqueKeysWithValues: kept.enumerated().map { (GGUFName($1.key), $0) })
        let count = parsed.keyIndex[GGUFName("split.count")].flatMap { parsed.metadata[$0].value.integerValue }.map { Int($0) } ?? 1
        guard count > 1 else {
            self.tensorInfos = parsed.tensorInfos
            self.shardPaths = [path]
            self.shards = [(mapping, parsed.dataStart)]
            self.tensorShard = [Int](repeating: 0, count: parsed.tensorInfos.count)
            self.tensorIndex = parsed.tensorIndex
            return
        }
        let total = parsed.keyIndex[GGUFName("split.tensors.count")].flatMap { parsed.metadata[$0].value.integerValue }.map { Int($0) }
        let number = parsed.keyIndex[GGUFName("split.no")].flatMap { parsed.metadata[$0].value.integerValue }.map { Int($0) }
        guard let prefix = GGUFFile.splitPrefix(path, shard: 0, of: count), number == 0 else {
            throw GGUFError.splitShard(file: path, reason: "this is not the first of \(count) shards (split.no \(number.map(String.init) ?? "missing"), or the name does not end in -00001-of-\(String(format: "%05d", count)).gguf); open the first")
        }
        var shards = [(mapping, parsed.dataStart)], infos = parsed.tensorInfos
        var owner = [Int](repeating: 0, count: infos.count), paths = [path]
        for shard in 1..<count {
            let shardPath = GGUFFile.splitPath(prefix, shard: shard, of: count)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw GGUFError.splitShard(file: path, reason: "shard \(shard + 1) of \(count), \(shardPath), is missing")
            }
            let shardMapping = try MappedFile(path: shardPath)
            let part = try GGUFFile.parse(shardMapping.bytes, file: shardPath)
            func value(_ key: String) -> Int? { part.keyIndex[GGUFName(key)].flatMap { part.metadata[$0].value.integerValue }.map { Int($0) } }
            guard value("split.no") == shard, value("split.count") == count else {
                throw GGUFError.splitShard(file: shardPath, reason: "its split.no and split.count (\(value("split.no").map(String.init) ?? "missing"), \(value("split.count").map(String.init) ?? "missing")) are not \(shard) and \(count)")
            }
            guard part.alignment == parsed.alignment else {
                throw GGUFError.splitShard(file: shardPath, reason: "its alignment \(part.alignment) differs from the first shard's \(parsed.alignment)")
            }
            shards.append((shardMapping, part.dataStart))
            infos += part.tensorInfos
            owner += [Int](repeating: shard, count: part.tensorInfos.count)
            paths.append(shardPath)
        }
        var index: [GGUFName: Int] = [:]
        for (i, info) in infos.enumerated() {
            guard index.updateValue(i, forKey: GGUFName(info.name)) == nil else {
                throw GGUFError.splitShard(file: paths[owner[i]], reason: "tensor '\(info.name)' is in more than one shard")
            }
        }
        guard total == nil || total == infos.count else {
            throw GGUFError.splitShard(file: path, reason: "split.tensors.count is \(total!) but the \(count) shards hold \(infos.count) tensors")
        }
        self.tensorInfos = infos
        self.tensorIndex = index
        self.shardPaths = paths
        self.shards = shards
        self.tensorShard = owner
    }

    /// gguf-split's file name for shard `shard` (0-based) of `count`: `prefix-0000K-of-0000N.gguf`.
    public static func splitPath(_ prefix: String, shard: Int, of count: Int) -> String {
        prefix + String(format: "-%05d-of-%05d.gguf", shard + 1, count)
    }

    /// The prefix of a shard's path, when the path ends as gguf-split names shard `shard` of `count`.
    static func splitPrefix(_ path: String, shard: Int, of count: Int) -> String? {
        let suffix = String(format: "-%05d-of-%05d.gguf", shard + 1, count)
        return path.hasSuffix(suffix) ? String(path.dropLast(suffix.count)) : nil
    }

    /// The first shard's mapping and data section (the whole file's when it is not split).
    var mapping: MappedFile { shards[0].mapping }
    public var dataStart: Int { shards[0].dataStart }

    /// The value of metadata key `key` (compared byte for byte, as ggml does), or nil.
    public subscript(key: String) -> GGUFValue? {
        keyIndex[GGUFName(key)].map { metadata[$0].value }
    }

    /// The info of tensor `name`, or nil.
    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[GGUFName(name)].map { tensorInfos[$0] }
    }

    /// A view of tensor `name` with the matching qkv dtype and the row-major shape (`dims` reversed).
    /// Zero-copy, unless the file's alignment leaves the tensor misaligned for its element type (possible
    /// only with a `general.alignment` below 8): then the view holds an aligned copy.
    /// Throws `GGUFError.noSuchTensor`, or `.unsupportedTensorType` for ggml types without a qkv dtype.
    public func tensor(_ name: String) throws(GGUFError) -> TensorView {
        guard let position = tensorIndex[GGUFName(name)] else { throw .noSuchTensor(file: path, tensor: name) }
        let info = tensorInfos[position], (mapping, dataStart) = shards[tensorShard[position]]
        guard let dtype = info.type.dtype else { throw .unsupportedTensorType(file: path, tensor: name, type: info.type) }
        let start = dataStart + info.offset
        let bytes = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<start + info.byteCount])
        let viewInfo = TensorInfo(name: name, role: nil, dtype: dtype, shape: info.shape)
        // The mapping starts on a page, so the file offset decides the address's alignment. q8_0's blocks
        // start with an f16 scale, so 2 bytes are enough for it.
        let needed = dtype.blockSize == 1 ? dtype.blockBytes : 2
        if start % needed == 0 {
            return TensorView(info: viewInfo, storage: mapping, bytes: bytes)
        }
        let copy = OwnedStorage(count: bytes.count)
        copy.mutableBytes.copyMemory(from: bytes)
        return TensorView(info: viewInfo, storage: copy, bytes: copy.bytes)
    }

    /// Calls `body` with the raw bytes of tensor `name`, whatever its type (for copying quantised tensors
    /// qkv cannot view as values), keeping the mapping alive for the call.
    public func withUnsafeTensorBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let position = tensorIndex[GGUFName(name)] else { throw GGUFError.noSuchTensor(file: path, tensor: name) }
        let info = tensorInfos[position], (mapping, dataStart) = shards[tensorShard[position]]
        let start = dataStart + info.offset
        return try withExtendedLifetime(mapping) {
            try body(UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<start + info.byteCount]))
        }
    }

    /// Lets the kernel drop the mapped pages of tensor `name` (a copy of it is done with them): resident
    /// memory stays bounded however large the file.
    func doneReading(_ name: String) {
        guard let position = tensorIndex[GGUFName(name)] else { return }
        let info = tensorInfos[position], (mapping, dataStart) = shards[tensorShard[position]]
        let start = dataStart + info.offset
        mapping.doneReading(UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<start + info.byteCount]))
    }

    // MARK: Parsing

    struct Parsed {
        var version: UInt32
        var alignment: Int
        var metadata: [(key: String, value: GGUFValue)]
        var keyIndex: [GGUFName: Int]
        var tensorInfos: [GGUFTensorInfo]
        var tensorIndex: [GGUFName: Int]
        var dataStart: Int
    }

    /// Validates `bytes` as a whole GGUF file, in the order of ggml's `gguf_init_from_reader`, with every
    /// read bounded by the bytes left and overflow-checked arithmetic. With `checkData` false (the writer
    /// checking its own header) the data section need not be there.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String, checkData: Bool = true) throws(GGUFError) -> Parsed {
        var c = GGUFCursor(bytes, file: file)

        // 1. Magic and version.
        let magic = Array(try c.take(4, "magic"))
        guard magic == GGUFLayout.magic else { throw .badMagic(file: file, found: magic) }
        let version = try c.u32("version")
        // A version whose low half is zero is a small version read in the wrong byte order (ggml's check).
        if version == 0 { throw .unsupportedVersion(file: file, version: version) }
        if version & 0xFFFF == 0 { throw .wrongByteOrder(file: file, version: version) }
        guard GGUFLayout.versions.contains(version) else { throw .unsupportedVersion(file: file, version: version) }

        // 2. Counts: int64 in ggml, so at most Int64.max; and no more than the bytes left could hold.
        let tensorCount = try c.u64("tensor count")
        let pairCount = try c.u64("key-value count")
        let pairLimit = UInt64(c.remaining / GGUFLayout.minimumPairBytes)
        guard pairCount <= pairLimit else { throw .countOutOfRange(file: file, what: "key-value count", count: pairCount, limit: pairLimit) }
        let infoLimit = UInt64(c.remaining / GGUFLayout.minimumInfoBytes)
        guard tensorCount <= infoLimit else { throw .countOutOfRange(file: file, what: "tensor count", count: tensorCount, limit: infoLimit) }

        // 3. Key-value pairs.
        var metadata: [(key: String, value: GGUFValue)] = []
        metadata.reserveCapacity(Int(pairCount))
        var keyIndex: [GGUFName: Int] = [:]
        for i in 0..<Int(pairCount) {
            let keyOffset = c.position
            let key = try c.string("key of metadata pair \(i)")
            guard !key.isEmpty else { throw .emptyKey(file: file, index: i, offset: keyOffset) }
            guard keyIndex[GGUFName(key)] == nil else { throw .duplicateKey(file: file, key: key, offset: keyOffset) }
            let value = try parseValue(&c, key: key, file: file)
            keyIndex[GGUFName(key)] = metadata.count
            metadata.append((key, value))
        }

        // 4. Alignment.
        var alignment = GGUFLayout.defaultAlignment
        if let i = keyIndex[GGUFName(GGUFLayout.alignmentKey)] {
            guard case .uint32(let value) = metadata[i].value else {
                throw .alignmentNotU32(file: file, type: metadata[i].value.type)
            }
            guard value != 0, value & (value - 1) == 0 else { throw .invalidAlignment(file: file, alignment: value) }
            alignment = Int(value)
        }

        // 5. Tensor infos.
        var infos: [GGUFTensorInfo] = []
        var offsets: [UInt64] = []
        infos.reserveCapacity(Int(tensorCount))
        var tensorIndex: [GGUFName: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let nameOffset = c.position
            let name = try c.string("name of tensor \(i)")
            guard !name.isEmpty, name.utf8.count <= GGUFLayout.maxNameBytes, !name.utf8.contains(0) else {
                throw .invalidTensorName(file: file, index: i, offset: nameOffset, name: name)
            }
            guard tensorIndex[GGUFName(name)] == nil else { throw .duplicateTensor(file: file, tensor: name) }

            let dimCount = try c.u32("dimension count of tensor '\(name)'")
            guard dimCount <= GGUFLayout.maxDimensions else { throw .tooManyDimensions(file: file, tensor: name, count: dimCount) }
            var rawDims: [Int64] = []
            for j in 0..<Int(dimCount) {
                let dim = Int64(bitPattern: try c.u64("dimension \(j) of tensor '\(name)'"))
                guard dim >= 0 else { throw .negativeDimension(file: file, tensor: name, index: j, value: dim) }
                rawDims.append(dim)
            }
            // Int is 64 bits here, so every non-negative Int64 dimension fits.
            let dims = rawDims.map { Int($0) }
            guard DType.elementCount(dims) != nil else { throw .elementCountOverflow(file: file, tensor: name, dims: rawDims) }

            let code = try c.u32("type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: code) else { throw .invalidTensorType(file: file, tensor: name, code: code) }
            let first = rawDims.first ?? 1
            guard first % Int64(type.blockSize) == 0 else {
                throw .partialBlock(file: file, tensor: name, type: type, firstDimension: first, blockSize: type.blockSize)
            }
            guard let byteCount = type.byteCount(dims: dims) else { throw .elementCountOverflow(file: file, tensor: name, dims: rawDims) }

            let offset = try c.u64("data offset of tensor '\(name)'")
            tensorIndex[GGUFName(name)] = infos.count
            infos.append(GGUFTensorInfo(name: name, type: type, dims: dims, offset: 0, byteCount: byteCount))
            offsets.append(offset)
        }

        // 6. Data section: it starts at the end of the infos padded to the alignment, and each tensor
        // starts where the one before it ends, padded (ggml: "tensor has offset X, expected Y").
        let fileLength = UInt64(bytes.count)
        // position <= Int.max and alignment <= 2^31, so this cannot overflow.
        let dataStart = GGUFLayout.align(UInt64(c.position), alignment)!
        if checkData && tensorCount > 0 && dataStart > fileLength {
            throw .dataStartPastEnd(file: file, dataStart: dataStart, fileLength: fileLength)
        }
        var expected: UInt64 = 0
        for i in infos.indices {
            let name = infos[i].name
            guard offsets[i] == expected else { throw .tensorOffsetMismatch(file: file, tensor: name, offset: offsets[i], expected: expected) }
            let size = UInt64(infos[i].byteCount)
            let (dataEnd, overflow1) = expected.addingReportingOverflow(size)
            let (end, overflow2) = dataStart.addingReportingOverflow(dataEnd)
            let tooFar = overflow1 || overflow2 || end > UInt64(Int.max)
            if tooFar || (checkData && end > fileLength) {
                throw .tensorPastEnd(file: file, tensor: name, end: tooFar ? .max : end, fileLength: fileLength)
            }
            infos[i].offset = Int(expected)
            // dataEnd < 2^63, so aligning it cannot overflow.
            expected = GGUFLayout.align(dataEnd, alignment)!
        }
        return Parsed(version: version, alignment: alignment, metadata: metadata, keyIndex: keyIndex,
                      tensorInfos: infos, tensorIndex: tensorIndex, dataStart: Int(dataStart))
    }

    /// The type code and value of the pair whose key was just read.
    private static func parseValue(_ c: inout GGUFCursor, key: String, file: String) throws(GGUFError) -> GGUFValue {
        let code = try c.u32("value type of '\(key)'")
        guard let type = GGUFValueType(rawValue: code) else { throw .invalidValueType(file: file, key: key, type: code) }
        guard type == .array else { return try parseScalar(&c, type, key: key, file: file) }

        let elementCode = try c.u32("element type of '\(key)'")
        let count = try c.u64("element count of '\(key)'")
        guard let element = GGUFValueType(rawValue: elementCode) else {
            throw .invalidValueType(file: file, key: key, type: elementCode)
        }
        guard element != .array else { throw .nestedArray(file: file, key: key) }
        guard count <= GGUFLayout.maxArrayCount else {
            throw .arrayTooLong(file: file, key: key, count: count, limit: GGUFLayout.maxArrayCount)
        }
        // Every element takes its fixed size, a string at least its 8-byte length: check before allocating.
        let minimum = UInt64(element.fixedSize ?? 8)
        guard count * minimum <= UInt64(c.remaining) else {
            throw .unexpectedEnd(file: file, offset: c.position, what: "elements of '\(key)'", needed: count * minimum, available: c.remaining)
        }
        let n = Int(count)
        let what = "elements of '\(key)'"
        switch element {
        case .uint8: return .array(.uint8(try c.integers(n, as: UInt8.self, what)))
        case .int8: return .array(.int8(try c.integers(n, as: Int8.self, what)))
        case .uint16: return .array(.uint16(try c.integers(n, as: UInt16.self, what)))
        case .int16: return .array(.int16(try c.integers(n, as: Int16.self, what)))
        case .uint32: return .array(.uint32(try c.integers(n, as: UInt32.self, what)))
        case .int32: return .array(.int32(try c.integers(n, as: Int32.self, what)))
        case .float32: return .array(.float32(try c.integers(n, as: UInt32.self, what).map(Float.init(bitPattern:))))
        case .uint64: return .array(.uint64(try c.integers(n, as: UInt64.self, what)))
        case .int64: return .array(.int64(try c.integers(n, as: Int64.self, what)))
        case .float64: return .array(.float64(try c.integers(n, as: UInt64.self, what).map(Double.init(bitPattern:))))
        case .bool:
            let start = c.position
            let raw = try c.integers(n, as: UInt8.self, what)
            if let bad = raw.firstIndex(where: { $0 > 1 }) {
                throw .invalidBool(file: file, key: key, offset: start + bad, byte: raw[bad])
            }
            return .array(.bool(raw.map { $0 == 1 }))
        case .string:
            var strings: [String] = []
            strings.reserveCapacity(n)
            for j in 0..<n { strings.append(try c.string("element \(j) of '\(key)'")) }
            return .array(.string(strings))
        case .array:
            preconditionFailure("checked above")
        }
    }

    private static func parseScalar(_ c: inout GGUFCursor, _ type: GGUFValueType, key: String, file: String) throws(GGUFError) -> GGUFValue {
        let what = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try c.u8(what))
        case .int8: return .int8(Int8(bitPattern: try c.u8(what)))
        case .uint16: return .uint16(try c.u16(what))
        case .int16: return .int16(Int16(bitPattern: try c.u16(what)))
        case .uint32: return .uint32(try c.u32(what))
        case .int32: return .int32(Int32(bitPattern: try c.u32(what)))
        case .float32: return .float32(Float(bitPattern: try c.u32(what)))
        case .uint64: return .uint64(try c.u64(what))
        case .int64: return .int64(Int64(bitPattern: try c.u64(what)))
        case .float64: return .float64(Double(bitPattern: try c.u64(what)))
        case .string: return .string(try c.string(what))
        case .bool:
            let offset = c.position
            let byte = try c.u8(what)
            guard byte <= 1 else { throw .invalidBool(file: file, key: key, offset: offset, byte: byte) }
            return .bool(byte == 1)
        case .array:
            preconditionFailure("arrays are read by parseValue")
        }
    }
}

/// A key or tensor name compared by its UTF-8 bytes, as ggml compares them (Swift's `String` equality
/// would merge names that differ only in Unicode normalisation).
struct GGUFName: Hashable {
    let bytes: [UInt8]
    init(_ name: String) { bytes = Array(name.utf8) }
}
