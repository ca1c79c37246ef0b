import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// An HDF5 file in the qkv layout (Specs/hdf5-layout.md), opened for reading through libhdf5. Opening
/// reads the metadata and checks every dataset's type and shape; tensors are read on demand, one buffer
/// each (HDF5 data may be chunked and compressed, so it is not mapped).
public final class HDF5File: WeightFile, Sendable {
    public let path: String
    public var format: ContainerFormat { .hdf5 }
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    private let file: H5Handle
    private let index: [String: Int]

    /// Largest metadata array qkv reads (the same bound as `.qkv` metadata).
    static let maxMetadataBytes: UInt64 = 1 << 30
    /// Deepest group nesting in the layout is `layers/{i}/attn/q`; anything far deeper is refused.
    static let maxDepth = 16
    /// Longest fixed-length string element read (a metadata value or one token); the type declares it.
    static let maxFixedStringBytes = 1 << 20

    public init(path: String) throws {
        self.path = path
        file = try HDF5.openReadOnly(path)
        let root = try HDF5.openGroup(file, "/", file: path, object: "/")

        // Root attributes: the layout marker and version.
        let format = try HDF5File.rootString(root, "qkv_format", file: path)
        guard format == "qkv-hdf5" else { throw HDF5Error.notQKVLayout(file: path, found: format.map { "\"\($0)\"" }) }
        let versionAttribute = try HDF5.openAttribute(root, "qkv_format_version", file: path, path: "/")
        guard case .int(let version) = try HDF5File.scalar(versionAttribute, key: nil, file: path, object: "/@qkv_format_version") else {
            throw HDF5Error.unsupportedType(file: path, object: "/@qkv_format_version", type: "non-integer")
        }
        guard version == 1 else { throw HDF5Error.unsupportedVersion(file: path, version: version) }

        var metadata = Metadata()
        var tensors: [TensorInfo] = []
        var visited = Set<UInt64>()
        for name in try HDF5.linkNames(root, file: path, object: "/") {
            try HDF5File.requireHardLink(root, name, file: path, object: "/" + name)
            let info = try HDF5.objectInfo(root, name, file: path, object: "/" + name)
            if let section = MetadataSection(rawValue: name), info.type == H5O_TYPE_GROUP {
                let group = try HDF5.openGroup(root, name, file: path, object: "/" + name)
                try HDF5File.readSection(group, section: section, attributeCount: Int(info.num_attrs), into: &metadata, file: path)
            } else {
                try HDF5File.collectTensors(root, name: name, path: name, depth: 1, visited: &visited, into: &tensors, file: path)
            }
        }
        // Roles come from the schema when the config can be read; `ModelFile` reports it when it cannot.
        if let config = try? ModelConfig(metadata: metadata, file: path) {
            let roles = Dictionary(ModelSchema.expectedTensors(for: config).map { ($0.name, $0.role) }, uniquingKeysWith: { a, _ in a })
            for i in tensors.indices { tensors[i].role = roles[tensors[i].name] }
        }
        self.metadata = metadata
        self.tensors = tensors
        self.index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads tensor `name` into a new buffer.
    public func tensor(_ name: String) throws -> TensorView {
        guard let i = index[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        return try HDF5File.read(tensors[i], at: name, in: file, path: path)
    }

    /// Reads the dataset at `object` as `info` into a new buffer.
    static func read(_ info: TensorInfo, at object: String, in file: H5Handle, path: String) throws -> TensorView {
        let dataset = try HDF5.openDataset(file, object, file: path, object: object)
        let memoryType = try HDF5.type(for: info.dtype, file: path, object: object)
        let storage = OwnedStorage(count: info.byteCount)
        try HDF5.read(dataset, memoryType: memoryType, into: storage.mutableBytes.baseAddress, file: path, object: object)
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }

    /// Chunk dimensions of a tensor's dataset, nil when contiguous (for `inspect` and tests).
    public func chunkShape(of name: String) throws -> [Int]? {
        guard let i = index[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        let dataset = try HDF5.openDataset(file, name, file: path, object: name)
        return try HDF5.chunkDimensions(dataset, rank: tensors[i].shape.count, file: path, object: name)
    }

    // MARK: Reading metadata

    static func rootString(_ root: H5Handle, _ name: String, file: String) throws -> String? {
        guard try HDF5.attributeExists(root, name, file: file, path: "/") else { return nil }
        let attribute = try HDF5.openAttribute(root, name, file: file, path: "/")
        guard case .string(let value) = try scalar(attribute, key: nil, file: file, object: "/@" + name) else { return nil }
        return value
    }

    private static func requireHardLink(_ group: H5Handle, _ name: String, file: String, object: String) throws {
        let type = try HDF5.linkType(group, name, file: file, object: object)
        guard type == H5L_TYPE_HARD else {
            throw HDF5Error.unsupportedLink(file: file, object: object, kind: type == H5L_TYPE_SOFT ? "soft link" : type == H5L_TYPE_EXTERNAL ? "external link" : "user-defined link")
        }
    }

    /// One section group: scalar attributes and one-dimensional array datasets.
    private static func readSection(_ group: H5Handle, section: MetadataSection, attributeCount: Int,
                                    into metadata: inout Metadata, file: String) throws {
        let groupPath = "/" + section.rawValue
        for name in try HDF5.attributeNames(group, count: attributeCount, file: file, path: groupPath) {
            let key = "\(section.rawValue).\(name)"
            let attribute = try HDF5.openAttribute(group, name, file: file, path: groupPath)
            metadata[key] = try scalar(attribute, key: key, file: file, object: "\(groupPath)@\(name)")
        }
        for name in try HDF5.linkNames(group, file: file, object: groupPath) {
            let object = "\(groupPath)/\(name)"
            try requireHardLink(group, name, file: file, object: object)
            guard try HDF5.objectInfo(group, name, file: file, object: object).type == H5O_TYPE_DATASET else {
                throw HDF5Error.badGroupStructure(file: file, object: object, reason: "metadata sections hold only attributes and datasets")
            }
            let dataset = try HDF5.openDataset(group, name, file: file, object: object)
            metadata["\(section.rawValue).\(name)"] = try array(dataset, file: file, object: object)
        }
    }

    /// Whether the schema gives `key` the bool type, so an integer 0/1 reads as a bool.
    private static func schemaWantsBool(_ key: String?) -> Bool {
        guard let key else { return false }
        return ModelConfig.flagKeys.contains { $0.key == key } || TokenizerData.optionTypes[key] == "bool"
    }

    /// A scalar attribute as a metadata value.
    static func scalar(_ attribute: H5Handle, key: String?, file: String, object: String) throws -> MetadataValue {
        let space = try HDF5.attributeSpace(attribute, file: file, object: object)
        let dims = try HDF5.dimensions(space, file: file, object: object)
        guard dims.isEmpty else { throw HDF5Error.badMetadataShape(file: file, object: object, rank: dims.count) }
        let type = try HDF5.attributeType(attribute, file: file, object: object)
        let info = try HDF5.describe(type, file: file, object: object)
        switch info.typeClass {
        case H5T_INTEGER:
            var value: Int64 = 0
            try HDF5.readAttribute(attribute, memoryType: HDF5.int64Type(), into: &value, file: file, object: object)
            if schemaWantsBool(key) {
                guard value == 0 || value == 1 else { throw HDF5Error.invalidBool(file: file, object: object, value: value) }
                return .bool(value == 1)
            }
            return .int(value)
        case H5T_ENUM where info.enumBaseSize == 1:
            // h5py's bool; read through the attribute's own enum type into one byte.
            var byte: Int8 = 0
            try HDF5.readAttribute(attribute, memoryType: type, into: &byte, file: file, object: object)
            guard byte == 0 || byte == 1 else { throw HDF5Error.invalidBool(file: file, object: object, value: Int64(byte)) }
            return .bool(byte == 1)
        case H5T_FLOAT:
            var value: Double = 0
            try HDF5.readAttribute(attribute, memoryType: HDF5.float64Type(), into: &value, file: file, object: object)
            return .float(value)
        case H5T_STRING where info.isVariableString:
            return .string(try HDF5.readVariableStringAttribute(attribute, file: file, object: object))
        case H5T_STRING:
            // The size comes from the file's type message (up to 4 GiB): bound it before allocating.
            guard info.size <= maxFixedStringBytes else {
                throw HDF5Error.tooLarge(file: file, object: object, bytes: UInt64(info.size), limit: UInt64(maxFixedStringBytes))
            }
            var buffer = [UInt8](repeating: 0, count: info.size)
            try HDF5.readAttribute(attribute, memoryType: HDF5.fixedStringType(size: info.size), into: &buffer, file: file, object: object)
            return .string(fixedString(buffer[...]))
        default:
            throw HDF5Error.unsupportedType(file: file, object: object, type: describe(info))
        }
    }

    /// A one-dimensional dataset as a metadata array.
    private static func array(_ dataset: H5Handle, file: String, object: String) throws -> MetadataValue {
        let space = try HDF5.datasetSpace(dataset, file: file, object: object)
        let dims = try HDF5.dimensions(space, file: file, object: object)
        guard dims.count == 1 else { throw HDF5Error.badMetadataShape(file: file, object: object, rank: dims.count) }
        let type = try HDF5.datasetType(dataset, file: file, object: object)
        let info = try HDF5.describe(type, file: file, object: object)
        let (bytes, overflow) = dims[0].multipliedReportingOverflow(by: UInt64(max(info.size, 8)))
        guard !overflow, bytes <= maxMetadataBytes else {
            throw HDF5Error.tooLarge(file: file, object: object, bytes: overflow ? .max : bytes, limit: maxMetadataBytes)
        }
        // bytes >= dims[0] * info.size, so this product does not overflow.
        try checkStorage(dataset, dims: dims, declaredBytes: info.isVariableString ? nil : dims[0] * UInt64(info.size), file: file, object: object)
        let count = Int(dims[0])
        func read<T>(_ zero: T, _ memoryType: H5Handle) throws -> [T] {
            var values = [T](repeating: zero, count: count)
            try values.withUnsafeMutableBytes { try HDF5.read(dataset, memoryType: memoryType, into: $0.baseAddress, file: file, object: object) }
            return values
        }
        switch info.typeClass {
        case H5T_INTEGER where info.size <= 4 && info.isSigned: return .int32Array(try read(Int32(0), HDF5.int32Type()))
        case H5T_INTEGER: return .int64Array(try read(Int64(0), HDF5.int64Type()))
        case H5T_FLOAT where info.size <= 4: return .float32Array(try read(Float(0), HDF5.float32Type()))
        case H5T_FLOAT: return .float64Array(try read(Double(0), HDF5.float64Type()))
        case H5T_STRING where info.isVariableString: return .stringArray(try HDF5.readStrings(dataset, count: count, file: file, object: object))
        case H5T_STRING:
            guard info.size <= maxFixedStringBytes else {
                throw HDF5Error.tooLarge(file: file, object: object, bytes: UInt64(info.size), limit: UInt64(maxFixedStringBytes))
            }
            var buffer = [UInt8](repeating: 0, count: count * info.size)
            try buffer.withUnsafeMutableBytes { try HDF5.read(dataset, memoryType: HDF5.fixedStringType(size: info.size), into: $0.baseAddress, file: file, object: object) }
            return .stringArray((0..<count).map { fixedString(buffer[$0 * info.size..<($0 + 1) * info.size]) })
        default:
            throw HDF5Error.unsupportedType(file: file, object: object, type: describe(info))
        }
    }

    /// A fixed-length HDF5 string: up to the first NUL.
    private static func fixedString(_ bytes: ArraySlice<UInt8>) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
    }

    // MARK: Finding tensors

    static func collectTensors(_ parent: H5Handle, name: String, path: String, depth: Int, visited: inout Set<UInt64>,
                                       into tensors: inout [TensorInfo], file: String) throws {
        try requireHardLink(parent, name, file: file, object: path)
        let info = try HDF5.objectInfo(parent, name, file: file, object: path)
        guard visited.insert(UInt64(info.addr)).inserted else {
            throw HDF5Error.badGroupStructure(file: file, object: path, reason: "the object is reachable by two paths (a hard-link cycle or alias)")
        }
        switch info.type {
        case H5O_TYPE_GROUP:
            guard depth < maxDepth else {
                throw HDF5Error.badGroupStructure(file: file, object: path, reason: "groups are nested more than \(maxDepth) deep")
            }
            let group = try HDF5.openGroup(parent, name, file: file, object: path)
            for child in try HDF5.linkNames(group, file: file, object: path) {
                try collectTensors(group, name: child, path: "\(path)/\(child)", depth: depth + 1, visited: &visited, into: &tensors, file: file)
            }
        case H5O_TYPE_DATASET:
            let dataset = try HDF5.openDataset(parent, name, file: file, object: path)
            tensors.append(try tensorInfo(dataset, path: path, attributeCount: Int(info.num_attrs), file: file))
        default:
            throw HDF5Error.badGroupStructure(file: file, object: path, reason: "only groups and datasets are allowed")
        }
    }

    private static func tensorInfo(_ dataset: H5Handle, path: String, attributeCount: Int, file: String) throws -> TensorInfo {
        let type = try HDF5.datasetType(dataset, file: file, object: path)
        let info = try HDF5.describe(type, file: file, object: path)
        var attribute: String?
        if try HDF5.attributeExists(dataset, "dtype", file: file, path: path) {
            let handle = try HDF5.openAttribute(dataset, "dtype", file: file, path: path)
            guard case .string(let text) = try scalar(handle, key: nil, file: file, object: "\(path)@dtype") else {
                throw HDF5Error.unsupportedType(file: file, object: "\(path)@dtype", type: "non-string")
            }
            attribute = text
        }
        let stored = describe(info)
        let dtype: DType
        switch (info.typeClass, info.size, info.isSigned) {
        case (H5T_FLOAT, 4, _): dtype = .f32
        case (H5T_FLOAT, 8, _): dtype = .f64
        case (H5T_FLOAT, 2, _) where info.fields == (15, 10, 5, 0, 10) && info.exponentBias == 15: dtype = .f16
        case (H5T_INTEGER, 1, true): dtype = .i8
        case (H5T_INTEGER, 1, false):
            // Block types are rows of their bytes, named by the dtype attribute (Specs/hdf5-layout.md).
            if let attribute, let blocked = DType(name: attribute), blocked.isBlockQuantized { dtype = blocked } else { dtype = .u8 }
        case (H5T_INTEGER, 2, true): dtype = .i16
        case (H5T_INTEGER, 2, false):
            // bf16 has no HDF5 type: its bits are a u16 dataset named by the dtype attribute.
            guard attribute == "bf16" else {
                throw HDF5Error.dtypeAttributeMismatch(file: file, tensor: path, attribute: attribute.map { "\"\($0)\"" } ?? "missing", storedAs: stored)
            }
            dtype = .bf16
        case (H5T_INTEGER, 4, true): dtype = .i32
        case (H5T_INTEGER, 8, true): dtype = .i64
        default: throw HDF5Error.unsupportedType(file: file, object: path, type: stored)
        }
        if let attribute, attribute != dtype.name {
            throw HDF5Error.dtypeAttributeMismatch(file: file, tensor: path, attribute: "\"\(attribute)\"", storedAs: stored)
        }
        let space = try HDF5.datasetSpace(dataset, file: file, object: path)
        let dims = try HDF5.dimensions(space, file: file, object: path)
        guard dims.count <= QKVLayout.maxRank, dims.allSatisfy({ $0 <= UInt64(Int.max) }) else {
            throw HDF5Error.badTensorShape(file: file, tensor: path, dimensions: dims)
        }
        var shape = dims.map { Int($0) }
        if dtype.isBlockQuantized {
            // The last dimension holds bytes: whole blocks, as many values each as the block size.
            guard let rowBytes = shape.last, rowBytes % dtype.blockBytes == 0 else {
                throw HDF5Error.partialBlockRow(file: file, tensor: path, dtype: dtype, rowBytes: dims.last ?? 0, blockBytes: dtype.blockBytes)
            }
            let (last, overflow) = (rowBytes / dtype.blockBytes).multipliedReportingOverflow(by: dtype.blockSize)
            guard !overflow else { throw HDF5Error.badTensorShape(file: file, tensor: path, dimensions: dims) }
            shape[shape.count - 1] = last
        }
        guard let bytes = dtype.byteCount(for: shape) else {
            throw HDF5Error.badTensorShape(file: file, tensor: path, dimensions: dims)
        }
        try checkStorage(dataset, dims: dims, declaredBytes: UInt64(bytes), file: file, object: path)
        return TensorInfo(name: path, role: nil, dtype: dtype, shape: shape)
    }

    // MARK: Storage checks before libhdf5 reads data (Specs/hdf5-layout.md, "Hostile files")

    /// Filters whose output qkv trusts: deflate (1), shuffle (2), fletcher32 (3). Anything else is lossy
    /// (n-bit 5, scale-offset 6), needs a plugin libhdf5 would load from disk, or is unknown.
    static let allowedFilters: Set<Int32> = [1, 2, 3]
    /// Deflate cannot expand data by much more than 1032:1; a dataset declaring more than this many bytes
    /// per stored byte is a compression bomb or mostly unwritten (fill values).
    static let maxExpansion: UInt64 = 1100

    /// Refuses storage libhdf5 would read without complaint but that is not what the file claims: data
    /// outside the file (external raw files, virtual datasets), filters other than deflate/shuffle/
    /// fletcher32, data never written (libhdf5 returns fill values), contiguous data past the end of the
    /// file, and compression ratios only a bomb reaches. `declaredBytes` nil: variable-length elements,
    /// whose stored size says nothing about the declared one (only the other checks apply).
    static func checkStorage(_ dataset: H5Handle, dims: [UInt64], declaredBytes: UInt64?, file: String, object: String) throws {
        func refuse(_ reason: String) -> HDF5Error { .unsafeStorage(file: file, object: object, reason: reason) }
        let storage = try HDF5.storage(dataset, rank: dims.count, file: file, object: object)
        if storage.layout == H5D_VIRTUAL { throw refuse("a virtual dataset: its data is mapped from other files") }
        if storage.externalCount > 0 { throw refuse("external storage: its data is in \(storage.externalCount) raw file(s) outside the HDF5 file") }
        if let bad = storage.filters.first(where: { !allowedFilters.contains($0.id) }) {
            throw refuse("filter \(bad.id) (\(bad.name.isEmpty ? "unknown" : bad.name)); qkv reads only deflate, shuffle and fletcher32")
        }
        let elements = dims.reduce(UInt64(1)) { $0.multipliedReportingOverflow(by: $1).partialValue }
        guard elements > 0 else { return }
        if storage.storedBytes == 0 && storage.layout != H5D_COMPACT {
            throw refuse("its data was never written (libhdf5 would return fill values)")
        }
        switch storage.layout {
        case H5D_CONTIGUOUS:
            guard let address = storage.address else { throw refuse("its data was never written (libhdf5 would return fill values)") }
            if let declaredBytes, storage.storedBytes != declaredBytes {
                throw refuse("\(storage.storedBytes) bytes stored for \(declaredBytes) declared")
            }
            let size = fileSize(file)
            let (end, overflow) = address.addingReportingOverflow(storage.storedBytes)
            if let size, overflow || end > size {
                throw refuse("its data at bytes \(address)..<\(overflow ? UInt64.max : end) runs past the end of the \(size)-byte file")
            }
        case H5D_CHUNKED:
            var expected: UInt64 = 1
            for (d, c) in zip(dims, storage.chunkDims) where c > 0 {
                expected = expected.multipliedReportingOverflow(by: (d + c - 1) / c).partialValue
            }
            if storage.allocatedChunks < expected {
                throw refuse("\(expected - storage.allocatedChunks) of its \(expected) chunks were never written (libhdf5 would return fill values)")
            }
            if let declaredBytes, declaredBytes / maxExpansion > storage.storedBytes {
                throw refuse("\(declaredBytes) bytes declared in \(storage.storedBytes) stored, more than \(maxExpansion)x (a compression bomb)")
            }
        default:
            break
        }
    }

    /// The size of the file at `path`, nil if it cannot be read (then libhdf5 reports the problem).
    static func fileSize(_ path: String) -> UInt64? {
        var status = stat()
        return stat(path, &status) == 0 ? UInt64(status.st_size) : nil
    }

    static func describe(_ info: HDF5.TypeInfo) -> String {
        switch info.typeClass {
        case H5T_INTEGER: "\(info.isSigned ? "signed" : "unsigned") integer of \(info.size) bytes"
        case H5T_FLOAT: "float of \(info.size) bytes"
        case H5T_STRING: info.isVariableString ? "variable-length string" : "string of \(info.size) bytes"
        case H5T_ENUM: "enum of \(info.enumBaseSize)-byte integers"
        case H5T_COMPOUND: "compound"
        case H5T_ARRAY: "array"
        case H5T_VLEN: "variable-length sequence"
        case H5T_OPAQUE: "opaque"
        case H5T_REFERENCE: "reference"
        case H5T_BITFIELD: "bitfield"
        case H5T_TIME: "time"
        default: "class \(info.typeClass.rawValue)"
        }
    }
}
