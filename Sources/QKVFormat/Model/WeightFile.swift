#if canImport(Glibc)
import Glibc
#endif

/// The containers qkv reads and writes.
public enum ContainerFormat: String, CaseIterable, Sendable {
    case qkv, hdf5
    /// A Hugging Face checkpoint: safetensors weights (one file or shards) with `config.json` beside them;
    /// read also from PyTorch's `pytorch_model.bin` (never written).
    case safetensors
    /// llama.cpp's GGUF.
    case gguf

    /// The format an output path's extension names: `.qkv`, `.h5` or `.hdf5`.
    public init?(pathExtension path: String) {
        let lower = path.lowercased()
        if lower.hasSuffix(".qkv") { self = .qkv }
        else if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") { self = .hdf5 }
        else if lower.hasSuffix(".safetensors") { self = .safetensors }
        else if lower.hasSuffix(".gguf") { self = .gguf }
        else { return nil }
    }

    /// Whether tensors of `dtype` can be written to this container: block-quantised ones to `.qkv`, GGUF
    /// and HDF5 (as rows of bytes), not to safetensors.
    public func canStore(_ dtype: DType) -> Bool {
        dtype.blockSize == 1 || self != .safetensors
    }

    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The format of an existing file, from its first bytes (not its name).
    public static func detect(path: String) throws(IOError) -> ContainerFormat {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(file: path, errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .cannotOpen(file: path, errno: errno) }
        // A folder is a Hugging Face checkpoint (config.json and safetensors weights).
        if (status.st_mode & S_IFMT) == S_IFDIR { return .safetensors }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(file: path) }
        if path.hasSuffix(".safetensors.index.json") || path.hasSuffix(".bin.index.json") { return .safetensors }
        var head = [UInt8](repeating: 0, count: 9)
        let n = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, 9) }
        guard n >= 0 else { throw .readFailed(file: path, errno: errno) }
        head = Array(head[0..<n])
        // safetensors: a little-endian header length, then the JSON header's '{'.
        if n == 9, head[8] == UInt8(ascii: "{") { return .safetensors }
        if path.hasSuffix(".safetensors") { return .safetensors }
        head = Array(head.prefix(8))
        if head == QKVLayout.magic { return .qkv }
        // A zip: PyTorch weights (`pytorch_model.bin`), read as a Hugging Face checkpoint.
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return .safetensors }
        // PyTorch's legacy format (before 1.6): a pickle of its magic number.
        if head.starts(with: PyTorchFile.legacyMagic.prefix(8)) { return .safetensors }
        if head.starts(with: GGUFLayout.magic) { return .gguf }
        // HDF5 allows the superblock at 0, 512, 1024, ...; qkv and h5py write it at 0.
        if head == hdf5Signature { return .hdf5 }
        // A file too short to hold a whole signature but starting like .qkv is a truncated .qkv.
        if n < 8 && !head.isEmpty && Array(QKVLayout.magic.prefix(n)) == head { return .qkv }
        throw .unrecognizedFormat(file: path, firstBytes: head)
    }
}

/// A container opened for reading: its metadata and tensor list, validated at open, and its tensors.
///
/// Containers check their own format when they open; whether the content follows the schema is
/// `ModelFile`'s job, so `inspect` can still show a file that does not.
public protocol WeightFile: AnyObject {
    /// The path as the user gave it, for messages.
    var path: String { get }
    var format: ContainerFormat { get }
    var metadata: Metadata { get }
    /// In file order.
    var tensors: [TensorInfo] { get }
    /// The tensor's bytes: a zero-copy view for `.qkv`, a freshly read buffer for HDF5.
    /// - Parameter name: the canonical name (`layers/0/attn/q/weight`), as `tensors` lists it.
    /// - Throws: when the file has no such tensor, or reading it fails.
    func tensor(_ name: String) throws -> TensorView
}

/// Opens any container qkv reads, chosen by the file's first bytes.
///
/// The name is not trusted: a `.bin` that is a safetensors file opens as one. The container's own rules
/// are checked here; whether the content follows the schema is `ModelFile`'s check.
/// - Parameter given: a `.qkv`, HDF5, `.safetensors` or GGUF file (the first shard of a split GGUF), a
///   Hugging Face checkpoint folder, or `org/name[@revision]` in the Hugging Face cache.
/// - Returns: the open container, with a foreign checkpoint's tensors under the schema's canonical names.
/// - Throws: `IOError` when the path cannot be read; the container's error (`QKVFileError`, `HDF5Error`,
///   `SafetensorsError`, `GGUFError`, `PyTorchError`) or `ImportError` (a checkpoint qkv has no map
///   for, or one that breaks its map) naming the file and what is wrong.
public func openWeightFile(path given: String) throws -> any WeightFile {
    // `org/name` and hub cache folders: the snapshot on disk (HubCache).
    let path = try HubCache.resolve(given)
    switch try ContainerFormat.detect(path: path) {
    case .qkv: return try QKVFile(path: path)
    case .hdf5:
        do {
            return try HDF5File(path: path)
        } catch HDF5Error.notQKVLayout(let file, nil) {
            // No qkv_format attribute at all: another program's layout, told apart by its contents.
            // A TensorFlow checkpoint in the legacy Keras layout (tf_model.h5), config.json beside it.
            if KerasH5.isKerasLegacy(path: path) { return try KerasH5.open(path: path) }
            // Not our layout: perhaps a state dict saved with h5py, with a Hugging Face config.
            do {
                let stateDict = try HDF5StateDict(path: path)
                return try HFCheckpoint(source: stateDict, format: .hdf5, folder: AtomicOutput.split(path).directory,
                                        configText: stateDict.configText, canonical: nil)
            } catch ImportError.notACheckpoint {
                throw HDF5Error.notQKVLayout(file: file, found: "missing, and no Hugging Face config (a root attribute 'config' or a config.json beside it) maps it as a state dict")
            }
        }
    case .safetensors:
        // A TensorFlow-only Hugging Face folder: tf_model.h5 and config.json, no safetensors weights.
        if let weights = KerasH5.tensorFlowWeights(inFolder: path) { return try KerasH5.open(path: weights) }
        return try HFCheckpoint(path: path)
    case .gguf: return try GGUFModel(path: path)
    }
}

// Every container's error enum is an invalid input (`InvalidInputError`, QKVSchema): `qkv` exits 1.
extension QKVFileError: InvalidInputError {}
extension HDF5Error: InvalidInputError {}
extension SafetensorsError: InvalidInputError {}
extension PyTorchError: InvalidInputError {}
extension GGUFError: InvalidInputError {}
