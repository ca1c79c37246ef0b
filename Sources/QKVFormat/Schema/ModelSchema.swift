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
        func add(_ name: String, _ role: TensorRole, _ shape: [Int], optional: Bool = false) {
            out.append(ExpectedTensor(name: name, role: role, shape: shape, isOptional: optional))
        }
        func norm(_ prefix: String, _ role: TensorRole) {
            add(prefix + "/weight", role, [D])
            if hasNormBias { add(prefix + "/bias", role, [D]) }
        }

        add("embed/token/weight", .tokenEmbedding, [V, D])
        if config.positionEncoding == .learned { add("embed/position/weight", .positionEmbedding, [config.maxPositions, D]) }
        if config.typeVocabSize > 0 { add("embed/token_type/weight", .tokenTypeEmbedding, [config.typeVocabSize, D]) }
        if config.embeddingNorm { norm("embed/norm", .embeddingNorm) }

        for layer in 0..<config.layerCount {
            let p = "layers/\(layer)"
            add("\(p)/attn/q/weight", .attentionQuery, [H, d, D])
            if config.attentionBias { add("\(p)/attn/q/bias", .attentionQuery, [H, d]) }
            add("\(p)/attn/k/weight", .attentionKey, [K, d, D])
            if config.attentionBias { add("\(p)/attn/k/bias", .attentionKey, [K, d]) }
            add("\(p)/attn/v/weight", .attentionValue, [K, d, D])
            if config.attentionBias { add("\(p)/attn/v/bias", .attentionValue, [K, d]) }
            add("\(p)/attn/o/weight", .attentionOutput, [H, d, D])
            if config.attentionBias { add("\(p)/attn/o/bias", .attentionOutput, [D]) }
            norm("\(p)/attn_norm", .attentionNorm)
            add("\(p)/mlp/up/weight", .mlpUp, [F, D])
            if config.mlpBias { add("\(p)/mlp/up/bias", .mlpUp, [F]) }
            if config.gatedMLP {
                add("\(p)/mlp/gate/weight", .mlpGate, [F, D])
                if config.mlpBias { add("\(p)/mlp/gate/bias", .mlpGate, [F]) }
            }
            add("\(p)/mlp/down/weight", .mlpDown, [D, F])
            if config.mlpBias { add("\(p)/mlp/down/bias", .mlpDown, [D]) }
            norm("\(p)/mlp_norm", .mlpNorm)
        }

        if config.normPlacement == .pre { norm("final_norm", .finalNorm) }
        if config.isDecoder && !config.tiedEmbeddings { add("lm_head/weight", .lmHead, [V, D]) }
        if config.family == .bert {
            add("pooler/weight", .pooler, [D, D], optional: true)
            add("pooler/bias", .pooler, [D], optional: true)
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
