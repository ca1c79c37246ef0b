/// Qwen2 and Qwen2.5 (Hugging Face `qwen2`; GGUF `qwen2`): LLaMA with biases on Q, K and V (none on O),
/// NeoX-style RoPE, and sliding-window attention on the layers from `max_window_layers` on when
/// `use_sliding_window` is set.
enum Qwen2: Architecture {
    static let name = "qwen2"
    static let hfModelTypes = ["qwen2"]
    static let ggufArchitectures = ["qwen2"]

    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .silu && config.isGatedRopeDecoder(allowed: [.slidingWindow, .ropeScaling], required: [.qkvBias])
            && !config.attentionBias
    }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file)
        config.qkvBias = true
        try QwenWindow.read(json, file: file, into: &config)
        return config
    }

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { LlamaStyle.hfMap(config) }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        LlamaStyle.hfConfigMembers(config, architecture: "Qwen2ForCausalLM", modelType: "qwen2") + QwenWindow.members(config)
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "qwen2", activation: .silu)
        config.qkvBias = true
        try LlamaStyle.ggufRopeScaling(file, prefix: "qwen2", config: &config)
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: false)
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] { LlamaStyle.ggufKeys(config, prefix: "qwen2") }
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)] {
        try LlamaStyle.ggufScalingKeys(config, prefix: "qwen2", metadata: metadata, target: target)
    }
}

/// Qwen3 (Hugging Face `qwen3`; GGUF `qwen3`): Qwen2 without the Q/K/V biases (unless `attention_bias`)
/// and with an RMSNorm of every head's q and k.
enum Qwen3: Architecture {
    static let name = "qwen3"
    static let hfModelTypes = ["qwen3"]
    static let ggufArchitectures = ["qwen3"]

    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .silu
            && config.isGatedRopeDecoder(allowed: [.slidingWindow, .ropeScaling, .qkvBias, .outputBias], required: [.qkNorm])
            && config.qkvBias == false
    }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file)
        config.qkNorm = true
        config.attentionBias = try HFConfigReader(json: json, file: file).bool("attention_bias", default: false)
        try QwenWindow.read(json, file: file, into: &config)
        return config
    }

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { LlamaStyle.hfMap(config) }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        LlamaStyle.hfConfigMembers(config, architecture: "Qwen3ForCausalLM", modelType: "qwen3")
            + [("attention_bias", .bool(config.attentionBias))] + QwenWindow.members(config)
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "qwen3", activation: .silu)
        config.qkNorm = true
        config.attentionBias = file.tensorInfo("blk.0.attn_q.bias") != nil
        try LlamaStyle.ggufRopeScaling(file, prefix: "qwen3", config: &config)
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: false)
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] { LlamaStyle.ggufKeys(config, prefix: "qwen3") }
    static func ggufScalingKeys(_ config: ModelConfig, metadata: Metadata, target: String) throws -> [(String, GGUFValue)] {
        try LlamaStyle.ggufScalingKeys(config, prefix: "qwen3", metadata: metadata, target: target)
    }
}

/// Qwen's sliding window: `layer_types` when the config lists them, else the layers from
/// `max_window_layers` on when `use_sliding_window` is true.
enum QwenWindow {
    static func read(_ json: JSONValue, file: String, into config: inout ModelConfig) throws {
        let fields = HFConfigReader(json: json, file: file)
        let layers = config.layerCount
        var sliding: [Bool]
        if json["layer_types"] != nil && json["layer_types"] != .null {
            sliding = try LlamaStyle.slidingLayers(json, file: file, layers: layers, defaultPattern: 0)
        } else {
            guard try fields.bool("use_sliding_window", default: false) else { return }
            let first = try fields.int("max_window_layers", default: layers)
            sliding = (0..<layers).map { $0 >= first }
        }
        guard sliding.contains(true), let window = try fields.optionalInt("sliding_window") else { return }
        config.slidingWindow = window
        config.slidingLayers = sliding
    }

    static func members(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        guard config.slidingWindow > 0 else { return [("use_sliding_window", .bool(false))] }
        return [("use_sliding_window", .bool(true)), ("sliding_window", .int(config.slidingWindow)),
                ("layer_types", LlamaStyle.layerTypes(config))]
    }
}
