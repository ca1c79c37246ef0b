/// A weight file whose content follows the schema: config and tokenizer parsed and checked, every
/// tensor the config calls for present with its shape, no strays. Built before any tensor is read.
public struct ModelFile {
    public let file: any WeightFile
    public let config: ModelConfig
    public let tokenizer: TokenizerData?

    /// Checks `file` against Specs/schema.md and throws the first problem.
    ///
    /// Only metadata and the tensor table are read: no tensor's bytes.
    /// - Throws: the first `ModelError`, naming the file and the key or tensor at fault; `problems(in:)`
    ///   lists them all.
    public init(_ file: any WeightFile) throws(ModelError) {
        let checked = ModelFile.check(file)
        if let first = checked.problems.first { throw first }
        self.file = file
        self.config = checked.config!
        self.tokenizer = checked.tokenizer
    }

    /// Every schema problem of `file`: the first config or tokenizer problem (later checks depend on
    /// them), or else every tensor problem. Empty when the file conforms.
    /// - Returns: the problems, each naming the file and the key or tensor at fault.
    public static func problems(in file: any WeightFile) -> [ModelError] {
        check(file).problems
    }

    private static func check(_ file: any WeightFile) -> (config: ModelConfig?, tokenizer: TokenizerData?, problems: [ModelError]) {
        for key in file.metadata.sortedKeys {
            if let reason = Metadata.problem(withKey: key) {
                return (nil, nil, [.invalidKey(file: file.path, key: key, reason: reason)])
            }
        }
        let config: ModelConfig
        let tokenizer: TokenizerData?
        do {
            config = try ModelConfig(metadata: file.metadata, file: file.path)
            tokenizer = try TokenizerData(metadata: file.metadata, config: config, file: file.path)
        } catch {
            return (nil, nil, [error])
        }
        return (config, tokenizer, ModelSchema.problems(tensors: file.tensors, config: config, file: file.path))
    }

    /// What only a full read finds: NaN or infinity in any float tensor (every container), and for
    /// `.qkv` every checksum and padding byte. Reads tensors one at a time.
    public func deepProblems(progress: (Int, Int) -> Void = { _, _ in }) throws -> [any Error] {
        var problems: [any Error] = []
        if let qkv = file as? QKVFile { problems += qkv.containerDeepProblems() }
        let tensors = file.tensors
        for (i, info) in tensors.enumerated() {
            progress(i, tensors.count)
            let view = try file.tensor(info.name)
            guard view.dtype.blockSize == 1 else {
                if let (index, value) = DTypeConversion.firstNonFinite(view) {
                    problems.append(ModelError.nonFiniteScale(file: file.path, tensor: info.name, dtype: view.dtype, index: index, value: value))
                }
                continue
            }
            // In chunks (whole elements each), so the resident set stays bounded.
            var first = 0
            var found: (Int, Float)?
            view.forEachChunk { piece in
                if found == nil, let (index, value) = DTypeConversion.firstNonFinite(piece, dtype: view.dtype) { found = (first + index, value) }
                first += piece.count / view.dtype.blockBytes
            }
            if let (index, value) = found {
                problems.append(ModelError.nonFiniteValue(file: file.path, tensor: info.name, index: index, value: value))
            }
        }
        progress(tensors.count, tensors.count)
        return problems
    }

    /// Tensors in the schema's order (the order writers use), with the roles the schema gives them.
    public var orderedTensors: [TensorInfo] {
        let byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return ModelSchema.expectedTensors(for: config).compactMap { want in
            byName[want.name].map { TensorInfo(name: $0.name, role: want.role, dtype: $0.dtype, shape: $0.shape) }
        }
    }
}
