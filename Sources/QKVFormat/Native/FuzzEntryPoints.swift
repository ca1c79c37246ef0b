#if canImport(Glibc)
import Glibc
#endif

/// In-memory entry points for the fuzz harnesses (`Sources/Fuzz`, `tools/fuzz.sh`): the validation each
/// reader runs when it opens a file, on bytes instead of a path, followed by the schema checks a model
/// goes through. Not API: `@_spi(Fuzzing)`. Each returns whether the bytes were accepted; a hostile
/// input may only make them return false, never crash, hang or allocate by a declared size.
@_spi(Fuzzing) public enum FuzzEntryPoints {
    /// `.qkv`: steps 1–5 of Specs/qkv-format.md, then the schema (step 6) and every tensor's CRC-32.
    public static func qkv(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let parsed = try? QKVFile.parse(bytes, file: "fuzz.qkv") else { return false }
        for entry in parsed.entries {
            let start = parsed.dataOffset + entry.offset
            var crc = CRC32()
            crc.update(UnsafeRawBufferPointer(rebasing: bytes[start..<start + entry.byteLength]))
            _ = crc.value == entry.checksum
        }
        let file = ParsedWeights(path: "fuzz.qkv", format: .qkv, metadata: parsed.metadata, tensors: parsed.entries.map(\.info))
        return ModelFile.problems(in: file).isEmpty
    }

    /// safetensors: every rule of the reference parser plus ours, then the views of every tensor.
    public static func safetensors(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let parsed = try? SafetensorsFile.parse(bytes, file: "fuzz.safetensors") else { return false }
        var sum = 0
        for entry in parsed.entries {
            let slice = bytes[parsed.dataStart + entry.begin..<parsed.dataStart + entry.end]
            sum &+= Int(slice.first ?? 0) &+ Int(slice.last ?? 0)
        }
        return sum >= Int.min
    }

    /// pytorch_model.bin: the zip, the restricted pickle machine, every tensor against its storage, then
    /// the first and last byte each tensor would read.
    public static func pytorch(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let entries = try? PyTorchFile.parse(bytes, file: "fuzz.bin") else { return false }
        var sum = 0
        for entry in entries where entry.info.elementCount > 0 {
            let size = entry.info.dtype.blockBytes
            sum &+= Int(bytes[entry.storage.lowerBound + entry.offset * size])
        }
        return sum >= 0
    }

    /// GGUF: every rule of ggml's reader, then every tensor's bytes as the views would slice them.
    public static func gguf(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let parsed = try? GGUFFile.parse(bytes, file: "fuzz.gguf") else { return false }
        var sum = 0
        for info in parsed.tensorInfos {
            let start = parsed.dataStart + info.offset
            let slice = bytes[start..<start + info.byteCount]
            sum &+= Int(slice.first ?? 0) &+ Int(slice.last ?? 0)
        }
        return sum >= Int.min
    }

    /// HDF5 goes through libhdf5, which reads by path: the bytes are written to `scratchPath` first.
    /// Opening checks the layout and every dataset's storage; the schema follows, then every tensor is read.
    public static func hdf5(_ bytes: UnsafeRawBufferPointer, scratchPath: String) -> Bool {
        let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return false }
        _ = write(fd, bytes.baseAddress, bytes.count)
        close(fd)
        guard let file = try? HDF5File(path: scratchPath) else { return false }
        guard ModelFile.problems(in: file).isEmpty else { return false }
        for info in file.tensors { _ = try? file.tensor(info.name) }
        return true
    }
}

/// Metadata and a tensor list already parsed, for the schema checks.
private final class ParsedWeights: WeightFile {
    let path: String
    let format: ContainerFormat
    let metadata: Metadata
    let tensors: [TensorInfo]
    init(path: String, format: ContainerFormat, metadata: Metadata, tensors: [TensorInfo]) {
        self.path = path
        self.format = format
        self.metadata = metadata
        self.tensors = tensors
    }
    func tensor(_ name: String) throws -> TensorView {
        throw ModelError.missingTensor(file: path, tensor: name, expectedShape: [])
    }
}
