/// The canonical tensor set of a config (Specs/schema.md, "Tensors"), and the check of a file's tensors
/// against it.
public enum ModelSchema {
    /// One tensor the schema calls for.
    public struct ExpectedTensor: Equatable, Sendable {
        public var name: String
        public var role: TensorRole
        public var shape: [Int]
        /// Optional tensors (BERT's pooler) may be absent; the rest are required.
        public var isOptional: Bool = false
    }

    /// Every tensor `config` calls for, in the writer's order: the order a forward pass reads them.
    public static func expectedTensors(for config: ModelConfig) -> [ExpectedTensor] {
        let (V, D, H, K, d, F) = (config.vocabSize, config.modelDim, config.headCount,
                                  config.keyValueHeadCount, config.headDim, config.ffnDim)
        let hasNormBias = config.norm == .layernorm
        var out: [ExpectedTensor] = []
        func add(_ role: TensorRole, _ shape: [Int], layer: Int? = nil, bias: Bool = false, optional: Bool = false) {
            out.append(ExpectedTensor(name: role.tensorName(layer: layer, bias: bias), role: role, shape: shape, isOptional: optional))
        }
        func norm(_ role: TensorRole, layer: Int? = nil) {
            add(role, [D], layer: layer)
            if hasNormBias { add(role, [D], layer: layer, bias: true) }
        }

        add(.tokenEmbedding, [V, D])
        if config.positionEncoding == .learned { add(.positionEmbedding, [config.maxPositions + config.positionOffset, D]) }
        if config.typeVocabSize > 0 { add(.tokenTypeEmbedding, [config.typeVocabSize, D]) }
        if config.embeddingNorm { norm(.embeddingNorm) }

        for layer in 0..<config.layerCount {
            let qkvBias = config.hasQKVBias
            for (role, heads) in [(TensorRole.attentionQuery, H), (.attentionKey, K), (.attentionValue, K)] {
                add(role, [heads, d, D], layer: layer)
                if qkvBias { add(role, [heads, d], layer: layer, bias: true) }
            }
            add(.attentionOutput, config.attentionOutputLayout == .heads ? [H, d, D] : [D, H * d], layer: layer)
            if config.attentionBias { add(.attentionOutput, [D], layer: layer, bias: true) }
            if config.qkNorm {
                add(.attentionQueryNorm, [d], layer: layer)
                add(.attentionKeyNorm, [d], layer: layer)
            }
            norm(.attentionNorm, layer: layer)
            if config.postNorms { norm(.attentionPostNorm, layer: layer) }
            add(.mlpUp, [F, D], layer: layer)
            if config.mlpBias { add(.mlpUp, [F], layer: layer, bias: true) }
            if config.gatedMLP {
                add(.mlpGate, [F, D], layer: layer)
                if config.mlpBias { add(.mlpGate, [F], layer: layer, bias: true) }
            }
            add(.mlpDown, [D, F], layer: layer)
            if config.mlpBias { add(.mlpDown, [D], layer: layer, bias: true) }
            norm(.mlpNorm, layer: layer)
            if config.postNorms { norm(.mlpPostNorm, layer: layer) }
        }

        if config.normPlacement == .pre { norm(.finalNorm) }
        if config.isDecoder && !config.tiedEmbeddings { add(.lmHead, [V, D]) }
        if config.family == .bert {
            // A classification head reads the pooler's output: then the pooler is required.
            add(.pooler, [D, D], optional: config.labelCount == 0)
            add(.pooler, [D], bias: true, optional: config.labelCount == 0)
        }
        if config.labelCount > 0 {
            add(.classifier, [config.labelCount, D])
            add(.classifier, [config.labelCount], bias: true)
        }
        // The Dense modules after pooling, each mapping the width before it to its outputs.
        var width = D
        for (j, module) in config.dense.enumerated() {
            add(.dense, [module.outputs, width], layer: j)
            if module.bias { add(.dense, [module.outputs], layer: j, bias: true) }
            width = module.outputs
        }
        return out
    }

    /// Every way `tensors` breaks the schema of `config`, in the writer's order; empty when it conforms.
    ///
    /// Reports all problems rather than the first, so `validate` can list them.
    public static func problems(tensors: [TensorInfo], config: ModelConfig, file: String) -> [ModelError] {
        var problems: [ModelError] = []
        var byName: [String: TensorInfo] = [:]
        for tensor in tensors { byName[tensor.name] = tensor }
        let expected = expectedTensors(for: config)
        let expectedNames = Set(expected.map(\.name))

        for want in expected {
            guard let have = byName[want.name] else {
                if !want.isOptional { problems.append(.missingTensor(file: file, tensor: want.name, expectedShape: want.shape)) }
                continue
            }
            if have.shape != want.shape {
                problems.append(.shapeMismatch(file: file, tensor: want.name, expected: want.shape, found: have.shape))
            }
            if let role = have.role, role != want.role {
                problems.append(.roleMismatch(file: file, tensor: want.name, expected: want.role, found: role))
            }
            if !have.dtype.isModelType || (have.dtype.isBlockQuantized && have.shape.count < 2) {
                problems.append(.dtypeNotAllowed(file: file, tensor: want.name, dtype: have.dtype))
            }
        }
        // Optional tensors come in groups that are all present or all absent.
        let optional = expected.filter(\.isOptional)
        let presentOptional = optional.filter { byName[$0.name] != nil }
        if !presentOptional.isEmpty {
            for want in optional where byName[want.name] == nil {
                problems.append(.missingTensor(file: file, tensor: want.name, expectedShape: want.shape))
            }
        }
        for tensor in tensors where !expectedNames.contains(tensor.name) {
            problems.append(.unexpectedTensor(file: file, tensor: tensor.name))
        }
        return problems
    }

    /// The role the schema gives `name` under `config`, or nil for a stray.
    public static func role(of name: String, config: ModelConfig) -> TensorRole? {
        expectedTensors(for: config).first { $0.name == name }?.role
    }
}
