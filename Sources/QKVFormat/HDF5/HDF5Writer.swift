#if canImport(Glibc)
import Glibc
#endif

/// Writes the qkv HDF5 layout (Specs/hdf5-layout.md) through libhdf5, tensor by tensor, into a
/// temporary file that is renamed into place when complete.
final class HDF5Writer: ContainerWriter {
    private let output: AtomicOutput
    private let file: H5Handle
    private let tensors: [TensorInfo]
    private let compress: Bool
    private var next = 0

    init(target: String, inputs: [String], metadata: Metadata, tensors: [TensorInfo], options: WriteOptions) throws {
        precondition(tensors.allSatisfy { ContainerFormat.hdf5.canStore($0.dtype) }, "the converter checks dtypes first")
        output = try AtomicOutput(target: target, inputs: inputs)
        // libhdf5 writes the file by path: give it the temporary file and take it back in finish().
        output.handOver()
        let path = output.temporaryPath
        self.tensors = tensors
        self.compress = options.compress
        do {
            file = try HDF5.create(path)
            let root = try HDF5.openGroup(file, "/", file: target, object: "/")
            try HDF5.writeStringAttribute(root, "qkv_format", "qkv-hdf5", file: target, path: "/")
            var version: Int64 = 1
            try HDF5.writeAttribute(root, "qkv_format_version", type: HDF5.int64Type(), value: &version, file: target, path: "/")
            try HDF5Writer.write(metadata, root: root, file: target)
        } catch {
            output.abandon()
            throw HDF5Writer.writeError(error, target: target)
        }
    }

    /// A libhdf5 failure while writing is an I/O error about the output (a full disk, a file-size limit),
    /// not a problem with the input: `IOError.writeFailed` with the errno libhdf5 reports (EIO if none).
    static func writeError(_ error: any Error, target: String) -> any Error {
        guard case let .libraryCall(_, _, _, message)? = error as? HDF5Error else { return error }
        var code = EIO
        if let range = message.range(of: "errno = ") {
            code = Int32(message[range.upperBound...].prefix(while: \.isNumber)) ?? EIO
        }
        return IOError.writeFailed(file: target, errno: code)
    }

    func append(_ view: TensorView) throws {
        do {
            try appendTensor(view)
        } catch {
            throw HDF5Writer.writeError(error, target: output.target)
        }
    }

    private func appendTensor(_ view: TensorView) throws {
        let info = tensors[next]
        precondition(view.name == info.name && view.dtype == info.dtype, "tensors must arrive in the declared order and dtype")
        let target = output.target
        let type = try HDF5.type(for: info.dtype, file: target, object: info.name)
        let root = try HDF5.openGroup(file, "/", file: target, object: "/")
        // Block types are stored as rows of bytes: the last dimension counts bytes.
        let shape = info.dtype.byteShape(info.shape)
        var stored = info
        (stored.dtype, stored.shape) = info.dtype.isBlockQuantized ? (.u8, shape) : (info.dtype, shape)
        let dataset = try HDF5.createDataset(root, info.name, type: type, shape: shape,
                                             chunks: compress ? HDF5Writer.chunks(for: stored) : nil, file: target)
        try HDF5.writeStringAttribute(dataset, "dtype", info.dtype.name, file: target, path: info.name)
        if info.shape.isEmpty || info.elementCount == 0 {
            try HDF5.write(dataset, memoryType: type, view.bytes.baseAddress, file: target, object: info.name)
        } else {
            // Whole rows at a time, releasing each piece, so the resident set stays bounded.
            let rowBytes = info.byteCount / info.shape[0]
            let rowsPerPiece = max(1, TensorStorage.streamingChunk / max(rowBytes, 1))
            var row = 0
            while row < info.shape[0] {
                let rows = min(rowsPerPiece, info.shape[0] - row)
                let piece = UnsafeRawBufferPointer(rebasing: view.bytes[row * rowBytes..<(row + rows) * rowBytes])
                try HDF5.writeRows(dataset, memoryType: type, piece, shape: shape, firstRow: row, rowCount: rows, file: target, object: info.name)
                view.storage.doneReading(piece)
                row += rows
            }
        }
        next += 1
    }

    func finish() throws {
        precondition(next == tensors.count, "finish() after \(next) of \(tensors.count) tensors")
        do {
            try HDF5.close(file: file, path: output.target)
        } catch {
            throw HDF5Writer.writeError(error, target: output.target)
        }
        try output.commit()
    }

    func abandon() {
        try? HDF5.close(file: file, path: output.target)
        output.abandon()
    }

    /// Chunks for `--compress`: one head per chunk for attention weights `[heads, d, D]`, so reading a
    /// head decompresses only that head; whole rows of about 1 MiB for everything else.
    static func chunks(for info: TensorInfo) -> [Int]? {
        guard !info.shape.isEmpty, info.elementCount > 0 else { return nil }   // HDF5 cannot chunk these
        if info.shape.count == 3, let role = info.role,
           [.attentionQuery, .attentionKey, .attentionValue, .attentionOutput].contains(role) {
            return [1, info.shape[1], info.shape[2]]
        }
        let rowBytes = max(1, info.byteCount / info.shape[0])
        let rows = max(1, min(info.shape[0], (1 << 20) / rowBytes))
        return [rows] + info.shape.dropFirst()
    }

    /// Metadata: scalars as attributes of `/section`, arrays as datasets `/section/name`.
    private static func write(_ metadata: Metadata, root: H5Handle, file: String) throws {
        var groups: [String: H5Handle] = [:]
        for key in metadata.sortedKeys {
            let dot = key.firstIndex(of: ".")!
            let section = String(key[..<dot])
            let name = String(key[key.index(after: dot)...])
            let group: H5Handle
            if let existing = groups[section] {
                group = existing
            } else {
                group = try HDF5.createGroup(root, section, file: file)
                groups[section] = group
            }
            let path = "/\(section)"
            switch metadata[key]! {
            case .bool(let v):
                var byte: Int8 = v ? 1 : 0
                try HDF5.writeAttribute(group, name, type: HDF5.boolType(), value: &byte, file: file, path: path)
            case .int(let v):
                var value = v
                try HDF5.writeAttribute(group, name, type: HDF5.int64Type(), value: &value, file: file, path: path)
            case .float(let v):
                var value = v
                try HDF5.writeAttribute(group, name, type: HDF5.float64Type(), value: &value, file: file, path: path)
            case .string(let v):
                try HDF5.writeStringAttribute(group, name, v, file: file, path: path)
            case .int32Array(let v): try writeArray(v, type: HDF5.int32Type(), group: group, name: name, file: file)
            case .int64Array(let v): try writeArray(v, type: HDF5.int64Type(), group: group, name: name, file: file)
            case .float32Array(let v): try writeArray(v, type: HDF5.float32Type(), group: group, name: name, file: file)
            case .float64Array(let v): try writeArray(v, type: HDF5.float64Type(), group: group, name: name, file: file)
            case .stringArray(let v):
                let dataset = try HDF5.createDataset(group, name, type: HDF5.stringType(), shape: [v.count], chunks: nil, file: file)
                try HDF5.writeStrings(dataset, v, file: file, object: "\(path)/\(name)")
            }
        }
    }

    private static func writeArray<T>(_ values: [T], type: H5Handle, group: H5Handle, name: String, file: String) throws {
        let dataset = try HDF5.createDataset(group, name, type: type, shape: [values.count], chunks: nil, file: file)
        try values.withUnsafeBytes { try HDF5.write(dataset, memoryType: type, $0.baseAddress, file: file, object: name) }
    }
}
