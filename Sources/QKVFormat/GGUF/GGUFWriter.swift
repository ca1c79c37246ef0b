/// Writes a GGUF v3 (or v2) file tensor by tensor: everything but the data is known up front, so the
/// header, key-value pairs and tensor infos (with their offsets) go first, then each tensor as it comes,
/// each followed by zero padding to the alignment (the last one too, as gguf-py and ggml write it), then
/// fsync and rename. Memory is the header plus nothing of the tensors.
///
/// The header is checked with the reader's own rules before anything is written, so the writer cannot
/// produce a file `GGUFFile` rejects: bad input throws the `GGUFError` a reader would, naming `target`.
/// Tensors must be appended in the order they were listed (a precondition, like `QKVWriter`'s).
public final class GGUFWriter {
    /// A tensor to write: its info without the offset, which the writer computes.
    public struct Tensor: Equatable, Sendable {
        public var name: String
        public var type: GGMLType
        /// GGUF order, fastest first: a row-major `[rows, columns]` tensor is `[columns, rows]`.
        public var dims: [Int]

        public init(name: String, type: GGMLType, dims: [Int]) {
            self.name = name
            self.type = type
            self.dims = dims
        }

        /// The tensor of a view: its dtype's ggml type and its shape reversed. Nil for `u8`, which GGUF lacks.
        public init?(_ view: TensorView) {
            guard let type = GGMLType(view.dtype) else { return nil }
            self.init(name: view.name, type: type, dims: view.shape.reversed())
        }

        /// Bytes of data (GGUF stores no byte count: it follows from the type and dims), or nil when they
        /// do not describe a valid tensor.
        public var byteCount: Int? { type.byteCount(dims: dims) }
    }

    public let target: String
    public let version: UInt32
    public let alignment: Int
    /// The infos as written, with their offsets.
    public let tensorInfos: [GGUFTensorInfo]
    /// Absolute offset of the data section.
    public let dataStart: Int
    private let output: AtomicOutput
    private var next = 0
    private var written = 0

    /// Checks and writes everything before the data. `inputs` are files the target must not replace.
    /// The alignment is `general.alignment` when `metadata` has it (a u32 power of two), else 32.
    public init(target: String, inputs: [String] = [], version: UInt32 = 3,
                metadata: [(key: String, value: GGUFValue)], tensors: [Tensor]) throws {
        var alignment = GGUFLayout.defaultAlignment
        if case .uint32(let a)? = metadata.first(where: { $0.key == GGUFLayout.alignmentKey })?.value, a != 0, a & (a - 1) == 0 {
            alignment = Int(a)
        }
        // Offsets of an invalid tensor list do not matter: the check below rejects the list.
        var offsets: [Int] = []
        var offset = 0
        for tensor in tensors {
            offsets.append(offset)
            let (end, overflow) = offset.addingReportingOverflow(tensor.byteCount ?? 0)
            offset = overflow ? 0 : Int(GGUFLayout.align(UInt64(end), alignment)!)
        }
        let header = GGUFWriter.encode(version: version, metadata: metadata, tensors: tensors, offsets: offsets)
        let parsed = try header.withUnsafeBytes { bytes throws(GGUFError) in try GGUFFile.parse(bytes, file: target, checkData: false) }
        precondition(parsed.tensorInfos.map(\.offset) == offsets, "GGUFWriter's offsets disagree with GGUFFile's")

        self.target = target
        self.version = version
        self.alignment = alignment
        self.tensorInfos = parsed.tensorInfos
        self.dataStart = parsed.dataStart
        output = try AtomicOutput(target: target, inputs: inputs)
        try header.withUnsafeBytes { try output.write($0) }
        written = header.count
        try pad(to: dataStart)
    }

    /// Appends the next tensor from a view whose dtype and shape match its listing.
    public func append(_ view: TensorView) throws {
        precondition(next < tensorInfos.count, "more tensors than listed")
        let info = tensorInfos[next]
        precondition(view.name == info.name && GGMLType(view.dtype) == info.type && view.shape == info.shape,
                     "tensor \(next) is listed as '\(info.name)' \(info.type) \(info.shape), got '\(view.name)' \(view.dtype) \(view.shape)")
        try view.withUnsafeBytes { try append(name: info.name, bytes: $0) }
    }

    /// Appends the next tensor's raw bytes: for any ggml type, including quantised ones qkv has no dtype for.
    public func append(name: String, bytes: UnsafeRawBufferPointer) throws {
        try append(name: name, byteCount: bytes.count) { write in try write(bytes) }
    }

    /// Appends the next tensor as consecutive pieces: `pieces` calls `write` with each in order, and they
    /// add up to `byteCount`. A transform can then fill one reused buffer a band at a time instead of
    /// making the whole tensor first.
    func append(name: String, byteCount: Int, pieces: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        precondition(next < tensorInfos.count, "more tensors than listed")
        let info = tensorInfos[next]
        precondition(name == info.name && byteCount == info.byteCount,
                     "tensor \(next) is listed as '\(info.name)' of \(info.byteCount) bytes, got '\(name)' of \(byteCount)")
        let start = written
        try pieces { piece in
            try output.write(piece)
            written += piece.count
        }
        precondition(written - start == byteCount, "tensor '\(name)' came as \(written - start) bytes of \(byteCount)")
        try pad(to: Int(GGUFLayout.align(UInt64(written), alignment)!))
        next += 1
    }

    /// Makes the file durable and moves it into place; every listed tensor must have been appended.
    public func finish() throws {
        precondition(next == tensorInfos.count, "finish() after \(next) of \(tensorInfos.count) tensors")
        try output.commit()
    }

    /// Removes the temporary file; the target stays as it was.
    public func abandon() { output.abandon() }

    private func pad(to end: Int) throws {
        guard end > written else { return }
        try [UInt8](repeating: 0, count: end - written).withUnsafeBytes { try output.write($0) }
        written = end
    }

    // MARK: Encoding

    /// Magic, version, counts, key-value pairs and tensor infos, in GGUF's byte layout.
    static func encode(version: UInt32, metadata: [(key: String, value: GGUFValue)], tensors: [Tensor], offsets: [Int]) -> [UInt8] {
        var out = ByteBuilder()
        out.bytes(GGUFLayout.magic)
        out.u32(version)
        out.u64(UInt64(tensors.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            out.ggufString(key)
            out.u32(value.type.rawValue)
            encode(value, into: &out)
        }
        for (tensor, offset) in zip(tensors, offsets) {
            out.ggufString(tensor.name)
            out.u32(UInt32(truncatingIfNeeded: tensor.dims.count))
            for dim in tensor.dims { out.u64(UInt64(bitPattern: Int64(dim))) }
            out.u32(tensor.type.rawValue)
            out.u64(UInt64(offset))
        }
        return out.storage
    }

    private static func encode(_ value: GGUFValue, into out: inout ByteBuilder) {
        switch value {
        case .uint8(let v): out.u8(v)
        case .int8(let v): out.u8(UInt8(bitPattern: v))
        case .uint16(let v): out.u16(v)
        case .int16(let v): out.u16(UInt16(bitPattern: v))
        case .uint32(let v): out.u32(v)
        case .int32(let v): out.u32(UInt32(bitPattern: v))
        case .float32(let v): out.u32(v.bitPattern)
        case .bool(let v): out.u8(v ? 1 : 0)
        case .string(let v): out.ggufString(v)
        case .uint64(let v): out.u64(v)
        case .int64(let v): out.u64(UInt64(bitPattern: v))
        case .float64(let v): out.u64(v.bitPattern)
        case .array(let array):
            out.u32(array.elementType.rawValue)
            out.u64(UInt64(array.count))
            switch array {
            case .uint8(let v): out.bytes(v)
            case .int8(let v): for x in v { out.u8(UInt8(bitPattern: x)) }
            case .uint16(let v): for x in v { out.u16(x) }
            case .int16(let v): for x in v { out.u16(UInt16(bitPattern: x)) }
            case .uint32(let v): for x in v { out.u32(x) }
            case .int32(let v): for x in v { out.u32(UInt32(bitPattern: x)) }
            case .float32(let v): for x in v { out.u32(x.bitPattern) }
            case .bool(let v): for x in v { out.u8(x ? 1 : 0) }
            case .string(let v): for x in v { out.ggufString(x) }
            case .uint64(let v): for x in v { out.u64(x) }
            case .int64(let v): for x in v { out.u64(UInt64(bitPattern: x)) }
            case .float64(let v): for x in v { out.u64(x.bitPattern) }
            }
        }
    }
}

private extension ByteBuilder {
    /// GGUF's string: a u64 byte length, then the UTF-8 bytes without a NUL.
    mutating func ggufString(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes(s.utf8)
    }
}
