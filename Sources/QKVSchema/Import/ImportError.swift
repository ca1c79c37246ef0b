/// A checkpoint that qkv cannot map to the schema (Specs/architectures.md): the container is sound, but
/// its config, its tensor names or its tokenizer files do not say what the model is.
public enum ImportError: Error, Equatable, Sendable {
    /// A folder or file with none of the files qkv needs (`config.json`, `model.safetensors`, ...).
    case notACheckpoint(path: String, reason: String)
    /// `config.json`'s `model_type` names an architecture without a map; `tensors` lists a few names found.
    case unknownArchitecture(file: String, modelType: String, tensors: [String])
    /// A `config.json` field is missing or has the wrong type.
    case configField(file: String, field: String, reason: String)
    /// A tensor the architecture map needs is absent from the checkpoint.
    case missingSourceTensor(file: String, tensor: String)
    /// A source tensor's shape does not fit the canonical tensor it maps to.
    case sourceShapeMismatch(file: String, tensor: String, canonical: String, expected: [Int], found: [Int])
    /// Source tensors that no row of the map claims (nothing is dropped silently).
    case unmappedTensors(file: String, tensors: [String])
    /// The same tensor in two shards, or a shard the index names that is not there.
    case shardProblem(file: String, reason: String)
    /// Tokenizer files that disagree with each other or with the config.
    case tokenizer(file: String, reason: String)
    /// A GGUF tensor of a ggml type qkv cannot map (integers, Q8_1, Q8_K, NVFP4, Q1_0, Q2_0).
    case unsupportedGGMLType(file: String, tensor: String, type: String)
    /// A source dtype the canonical schema cannot hold for this tensor.
    case sourceDType(file: String, tensor: String, dtype: DType)
    /// An `org/name` reference (or a cache folder) the Hugging Face cache on this machine cannot answer.
    case notInHubCache(reference: String, reason: String)
}

extension ImportError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .notACheckpoint(path, reason):
            "\(path): not a checkpoint qkv can read: \(reason)"
        case let .unknownArchitecture(file, modelType, tensors):
            "\(file): architecture '\(modelType)' has no map in qkv (Specs/architectures.md lists the maps); tensors found include \(tensors.prefix(6).joined(separator: ", "))\(tensors.count > 6 ? ", ... (\(tensors.count) in all)" : ""); `qkv inspect` shows the raw file"
        case let .configField(file, field, reason):
            "\(file): '\(field)' \(reason)"
        case let .missingSourceTensor(file, tensor):
            "\(file): tensor '\(tensor)' is missing"
        case let .sourceShapeMismatch(file, tensor, canonical, expected, found):
            "\(file): tensor '\(tensor)' has shape \(found), which does not fit '\(canonical)' \(expected)"
        case let .unmappedTensors(file, tensors):
            "\(file): \(tensors.count) tensor\(tensors.count == 1 ? "" : "s") that no part of the architecture map claims: \(tensors.prefix(8).joined(separator: ", "))\(tensors.count > 8 ? ", ..." : "")"
        case let .shardProblem(file, reason):
            "\(file): \(reason)"
        case let .tokenizer(file, reason):
            "\(file): \(reason)"
        case let .unsupportedGGMLType(file, tensor, type):
            "\(file): tensor '\(tensor)' has ggml type \(type); qkv maps F32, F16, BF16 and the block types of Specs/quantization.md"
        case let .sourceDType(file, tensor, dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype), which a model tensor cannot have"
        case let .notInHubCache(reference, reason):
            "\(reference): \(reason)"
        }
    }
}

extension ImportError {
    /// The file is well-formed, but of an architecture or tensor type qkv has no map for (`validate`
    /// exits 3 for these, not 1).
    public var isUnsupportedButWellFormed: Bool {
        switch self {
        case .unknownArchitecture, .unsupportedGGMLType: true
        default: false
        }
    }
}
