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
            && config.isGatedRopeDecoder(allowed: [.qkvBias, .outputBias, .mlpBias, .ropeFactors])
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
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 1) }
        func float(_ key: String, _ fallback: Double) throws -> Double { try keys.float(key, fallback) }
        let D = try int("llama.embedding_length"), H = try int("llama.attention.head_count")
        let d = try int("llama.attention.key_length", D / H)
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .llama, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("llama.block_count"),
            headCount: H, keyValueHeadCount: try int("llama.attention.head_count_kv", H), headDim: d,
            ffnDim: try int("llama.feed_forward_length"), maxPositions: try int("llama.context_length", 2048),
            norm: .rmsnorm, normEpsilon: try float("llama.attention.layer_norm_rms_epsilon", 1e-5), normPlacement: .pre,
            activation: .silu, positionEncoding: .rope)
        // Keys stored as f32 in GGUF come back as the nearest double of that f32 (1e-6 -> 9.99999997e-07).
        config.rope = .init(theta: try float("llama.rope.freq_base", 10000), layout: .half)
        let ropeDims = try int("llama.rope.dimension_count", d)
        guard ropeDims == d else {
            throw ImportError.configField(file: file.path, field: "llama.rope.dimension_count", reason: "is \(ropeDims) but heads have \(d) dimensions; llama.cpp's llama rotates whole heads")
        }
        config.gatedMLP = true
        config.tiedEmbeddings = file.tensorInfo("output.weight") == nil
        config.attentionBias = file.tensorInfo("blk.0.attn_q.bias") != nil
        config.mlpBias = file.tensorInfo("blk.0.ffn_up.bias") != nil
        if let info = file.tensorInfo("rope_freqs.weight") {
            let view = try file.tensor("rope_freqs.weight")
            guard info.type == .f32, view.shape == [d / 2] else {
                throw ImportError.sourceShapeMismatch(file: file.path, tensor: "rope_freqs.weight", canonical: "config.rope_freq_factors", expected: [d / 2], found: view.shape)
            }
            config.rope?.frequencyFactors = view.floats()
        }
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: true)
    }

    /// Llama 3's RoPE divisors: llama.cpp's `rope_freqs.weight`, f32 [rope dims / 2].
    static let ggufConfigTensorNames = ["rope_freqs.weight"]
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])] {
        config.rope?.frequencyFactors.map { [("rope_freqs.weight", $0)] } ?? []
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

extension JSONValue {
    static func int(_ v: Int) -> JSONValue { .number(String(v)) }
    static func double(_ v: Double) -> JSONValue { .number(String(v)) }
}
