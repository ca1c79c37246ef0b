/// Phi-3 and Phi-3.5 mini (Hugging Face `phi3`; GGUF `phi3`): LLaMA's computation with Q|K|V fused in
/// `qkv_proj` and gate|up in `gate_up_proj` (split into the schema's per-head tensors on import, fused
/// again on export), a sliding window on every layer, and partial rotary where the config says so.
enum Phi3: Architecture {
    static let name = "phi3"
    static let hfModelTypes = ["phi3"]
    static let ggufArchitectures = ["phi3"]

    static func canHold(_ config: ModelConfig) -> Bool {
        // Phi-3 is told apart from LLaMA only by its fused tensors: a LLaMA-shaped model is written as
        // LLaMA (which comes first), one with a window on every layer as Phi-3 only if Mistral cannot.
        config.activation == .silu && config.slidingLayers == nil
            && config.isGatedRopeDecoder(allowed: [.slidingWindow, .partialRope, .ropeFactors])
    }

    // MARK: Hugging Face

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file)
        let fields = HFConfigReader(json: json, file: file)
        config.slidingWindow = try fields.optionalInt("sliding_window") ?? 0
        if try fields.bool("attention_bias", default: false) {
            throw ImportError.configField(file: file, field: "attention_bias", reason: "is true; Phi-3 has no biases")
        }
        if let pad = try fields.optionalInt("pad_token_id") { config.specialTokens[.pad] = pad }
        return config
    }

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap {
        typealias Row = ArchitectureMap.Row
        let (q, kv, F) = (config.headCount * config.headDim, config.keyValueHeadCount * config.headDim, config.ffnDim)
        let fused = q + 2 * kv
        return ArchitectureMap(
            family: .llama, prefixes: ["model."], buffers: ["layers.{i}.self_attn.rotary_emb.inv_freq"],
            rows: [
                Row("embed/token/weight", "embed_tokens.weight"),
                Row("layers/{i}/attn_norm/weight", "layers.{i}.input_layernorm.weight"),
                Row("layers/{i}/attn/q/weight", "layers.{i}.self_attn.qkv_proj.weight", .rowRange(first: 0, count: q, total: fused)),
                Row("layers/{i}/attn/k/weight", "layers.{i}.self_attn.qkv_proj.weight", .rowRange(first: q, count: kv, total: fused)),
                Row("layers/{i}/attn/v/weight", "layers.{i}.self_attn.qkv_proj.weight", .rowRange(first: q + kv, count: kv, total: fused)),
                Row("layers/{i}/attn/o/weight", "layers.{i}.self_attn.o_proj.weight", .transpose),
                Row("layers/{i}/mlp_norm/weight", "layers.{i}.post_attention_layernorm.weight"),
                Row("layers/{i}/mlp/gate/weight", "layers.{i}.mlp.gate_up_proj.weight", .rowRange(first: 0, count: F, total: 2 * F)),
                Row("layers/{i}/mlp/up/weight", "layers.{i}.mlp.gate_up_proj.weight", .rowRange(first: F, count: F, total: 2 * F)),
                Row("layers/{i}/mlp/down/weight", "layers.{i}.mlp.down_proj.weight"),
                Row("final_norm/weight", "norm.weight"),
                Row("lm_head/weight", "lm_head.weight"),
            ])
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        var members = LlamaStyle.hfConfigMembers(config, architecture: "Phi3ForCausalLM", modelType: "phi3")
        members.append(("sliding_window", config.slidingWindow > 0 ? .int(config.slidingWindow) : .null))
        members.append(("attention_bias", .bool(false)))
        if let factors = config.rope?.frequencyFactors, let scaling = RopeScaling.linearJSON(factors) { members.append(("rope_scaling", scaling)) }
        return members
    }

    // MARK: GGUF

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "phi3", activation: .silu)
        if let window = file["phi3.attention.sliding_window"]?.integerValue, window > 0 { config.slidingWindow = Int(window) }
        for name in ["rope_factors_long.weight", "rope_factors_short.weight"] where file.tensorInfo(name) != nil {
            throw ImportError.configField(file: file.path, field: name, reason: "is LongRoPE, which qkv does not compute yet")
        }
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        let (q, kv, F) = (config.headCount * config.headDim, config.keyValueHeadCount * config.headDim, config.ffnDim)
        let parts = name.split(separator: "/")
        if parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) {
            let blk = "blk.\(layer)."
            switch parts.dropFirst(2).joined(separator: "/") {
            case "attn/q/weight": return (blk + "attn_qkv.weight", .rowRange(first: 0, count: q, total: q + 2 * kv))
            case "attn/k/weight": return (blk + "attn_qkv.weight", .rowRange(first: q, count: kv, total: q + 2 * kv))
            case "attn/v/weight": return (blk + "attn_qkv.weight", .rowRange(first: q + kv, count: kv, total: q + 2 * kv))
            // llama.cpp's Phi-3 keeps gate|up fused in `ffn_up` (its SwiGLU splits the halves).
            case "mlp/gate/weight": return (blk + "ffn_up.weight", .rowRange(first: 0, count: F, total: 2 * F))
            case "mlp/up/weight": return (blk + "ffn_up.weight", .rowRange(first: F, count: F, total: 2 * F))
            default: break
            }
        }
        return LlamaStyle.ggufSource(for: name, config: config, permutedRope: false)
    }

    static func ggufProblem(_ config: ModelConfig) -> String? { nil }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        var keys = LlamaStyle.ggufKeys(config, prefix: "phi3")
        if config.rope?.dimensions == nil { keys.append(("phi3.rope.dimension_count", .uint32(UInt32(config.headDim)))) }
        if config.slidingWindow > 0 { keys.append(("phi3.attention.sliding_window", .uint32(UInt32(config.slidingWindow)))) }
        return keys
    }
}
