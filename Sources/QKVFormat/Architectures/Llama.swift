/// LLaMA (Hugging Face `llama`; GGUF `llama`, which is also how llama.cpp writes Mistral and SmolLM2):
/// RMSNorm, RoPE, SwiGLU, GQA; optional biases; Llama 3's RoPE scaling. llama.cpp stores Q and K rows in
/// its own RoPE order, undone on import and redone on export.
enum Llama: Architecture {
    static let name = "llama"
    static let hfModelTypes = ["llama"]
    static let ggufArchitectures = ["llama"]

    /// `attention_bias` puts biases on Q, K, V and O together (Q, K, V alone is Qwen2's).
    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .silu && !config.qkvBias
            && config.isGatedRopeDecoder(allowed: [.qkvBias, .outputBias, .mlpBias, .ropeScaling])
    }

    // MARK: Hugging Face

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file)
        let fields = HFConfigReader(json: json, file: file)
        config.attentionBias = try fields.bool("attention_bias", default: false)
        config.mlpBias = try fields.bool("mlp_bias", default: false)
        return config
    }

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { LlamaStyle.hfMap(config) }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        var members = LlamaStyle.hfConfigMembers(config, architecture: "LlamaForCausalLM", modelType: "llama")
        members += [("attention_bias", .bool(config.attentionBias)), ("mlp_bias", .bool(config.mlpBias))]
        if let factors = config.rope?.frequencyFactors, let scaling = RopeScaling.linearJSON(factors) { members.append(("rope_scaling", scaling)) }
        return members
    }

    // MARK: GGUF

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "llama", activation: .silu, defaultEpsilon: 1e-5)
        if let dims = config.rope?.dimensions {
            throw ImportError.configField(file: file.path, field: "llama.rope.dimension_count", reason: "is \(dims) but heads have \(config.headDim) dimensions; llama.cpp's llama rotates whole heads")
        }
        // llama.cpp's `llama` rotates adjacent pairs, its converter having permuted Q and K to match (Meta's
        // original layout): the rows are kept as they are, mapped without a copy, and rotated the same way.
        config.rope?.layout = .interleaved
        config.attentionBias = file.tensorInfo("blk.0.attn_q.bias") != nil
        config.mlpBias = file.tensorInfo("blk.0.ffn_up.bias") != nil
        try LlamaStyle.ggufRopeScaling(file, prefix: "llama", config: &config, linear: false)
        if let info = file.tensorInfo("rope_freqs.weight") {
            if config.rope?.frequencyFactors != nil {
                throw ImportError.configField(file: file.path, field: "rope_freqs.weight", reason: "is there beside llama.rope.scaling.type yarn; qkv takes one RoPE scaling")
            }
            let view = try file.tensor("rope_freqs.weight")
            let pairs = config.headDim / 2
            guard info.type == .f32, view.shape == [pairs] else {
                throw ImportError.sourceShapeMismatch(file: file.path, tensor: "rope_freqs.weight", canonical: "config.rope_freq_factors", expected: [pairs], found: view.shape)
            }
            config.rope?.frequencyFactors = view.floats()
        }
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: config.rope?.layout != .interleaved)
    }

    /// Llama 3's (and linear) RoPE divisors: llama.cpp's `rope_freqs.weight`, f32 [rope dims / 2]. YaRN's
    /// are stated by keys instead (`ggufScalingKeys`): llama.cpp computes them itself.
    static let ggufConfigTensorNames = ["rope_freqs.weight"]
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])] {
        guard let rope = config.rope, rope.attentionFactor == 1, rope.longFrequencyFactors == nil, let factors = rope.frequencyFactors else { return [] }
        return [("rope_freqs.weight", factors)]
    }
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)] {
        try LlamaStyle.ggufScalingKeys(config, prefix: "llama", metadata: metadata, target: target, divisorsAsTensor: true)
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        var keys: [(String, GGUFValue)] = [
            ("llama.context_length", .uint32(UInt32(config.maxPositions))),
            ("llama.embedding_length", .uint32(UInt32(config.modelDim))),
            ("llama.block_count", .uint32(UInt32(config.layerCount))),
            ("llama.feed_forward_length", .uint32(UInt32(config.ffnDim))),
            ("llama.rope.dimension_count", .uint32(UInt32(config.headDim))),
            ("llama.attention.head_count", .uint32(UInt32(config.headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(config.keyValueHeadCount))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(config.normEpsilon))),
            ("llama.rope.freq_base", .float32(Float(config.rope?.theta ?? 10000))),
            ("llama.vocab_size", .uint32(UInt32(config.vocabSize))),
        ]
        // llama.cpp's converter states the head size even when it is D / H.
        keys.append(("llama.attention.key_length", .uint32(UInt32(config.headDim))))
        keys.append(("llama.attention.value_length", .uint32(UInt32(config.headDim))))
        return keys
    }
}

extension ModelConfig.Activation {
    /// The name Hugging Face configs give this activation.
    var hfName: String {
        switch self {
        case .geluErf: "gelu"
        case .geluTanh: "gelu_new"
        case .silu: "silu"
        }
    }
}
