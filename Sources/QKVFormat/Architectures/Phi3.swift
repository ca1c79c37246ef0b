/// Phi-3 and Phi-3.5 mini (Hugging Face `phi3`; GGUF `phi3`): LLaMA's computation with Q|K|V fused in
/// `qkv_proj` and gate|up in `gate_up_proj` (split into the schema's per-head tensors on import, fused
/// again on export), a sliding window on every layer, partial rotary where the config says so, and
/// LongRoPE (Phi-3-mini-128k, Phi-3.5-mini): short and long divisors, the original context that chooses
/// between them and an attention factor.
enum Phi3: Architecture {
    static let name = "phi3"
    static let hfModelTypes = ["phi3"]
    static let ggufArchitectures = ["phi3"]

    static func canHold(_ config: ModelConfig) -> Bool {
        // Phi-3 is told apart from LLaMA only by its fused tensors: a LLaMA-shaped model is written as
        // LLaMA (which comes first), one with a window on every layer as Phi-3 only if Mistral cannot.
        config.activation == .silu && config.slidingLayers == nil
            && config.isGatedRopeDecoder(allowed: [.slidingWindow, .partialRope, .ropeScaling])
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
        // Phi3Config's default pad id (32000) lies outside a smaller vocabulary: state it, null for none.
        members.append(("pad_token_id", config.specialTokens[.pad].map { .int($0) } ?? .null))
        // transformers' Phi3Config keeps LongRoPE's original context beside rope_scaling and prefers it there
        // (its default, 4096, would otherwise replace the one rope_scaling states).
        if let original = config.rope?.originalContext { members.append(("original_max_position_embeddings", .int(original))) }
        if let factors = config.rope?.frequencyFactors, let scaling = RopeScaling.linearJSON(factors) { members.append(("rope_scaling", scaling)) }
        return members
    }

    // MARK: GGUF

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "phi3", activation: .silu)
        if let window = file["phi3.attention.sliding_window"]?.integerValue, window > 0 { config.slidingWindow = Int(window) }
        // LongRoPE, as llama.cpp's converter writes it: both divisor sets as tensors, the original context
        // and the attention factor as keys (llama.cpp's phi3 reads no other RoPE scaling).
        if let type = file["phi3.rope.scaling.type"]?.stringValue, type != "none", type != "longrope" {
            throw ImportError.configField(file: file.path, field: "phi3.rope.scaling.type", reason: "is '\(type)'; llama.cpp's phi3 has only LongRoPE")
        }
        let (long, short) = (file.tensorInfo(longFactorsTensor), file.tensorInfo(shortFactorsTensor))
        if long != nil || short != nil {
            let pairs = (config.rope?.dimensions ?? config.headDim) / 2
            func factors(_ name: String, _ key: String) throws -> [Float] {
                guard let info = file.tensorInfo(name) else { throw ImportError.missingSourceTensor(file: file.path, tensor: name) }
                let view = try file.tensor(name)
                guard info.type == .f32, view.shape == [pairs] else {
                    throw ImportError.sourceShapeMismatch(file: file.path, tensor: name, canonical: key, expected: [pairs], found: view.shape)
                }
                return view.floats()
            }
            let keys = GGUFKeys(file)
            config.rope?.frequencyFactors = try factors(shortFactorsTensor, "config.rope_freq_factors")
            config.rope?.longFrequencyFactors = try factors(longFactorsTensor, "config.rope_freq_factors_long")
            config.rope?.originalContext = try keys.int("phi3.rope.scaling.original_context_length", config.maxPositions, minimum: 1)
            config.rope?.attentionFactor = try keys.float("phi3.rope.scaling.attn_factor", 1)
        }
        return config
    }

    /// llama.cpp's LongRoPE tensors, f32 [rope dims / 2].
    static let longFactorsTensor = "rope_factors_long.weight", shortFactorsTensor = "rope_factors_short.weight"
    static let ggufConfigTensorNames = [longFactorsTensor, shortFactorsTensor]
    static func ggufConfigTensors(_ config: ModelConfig) -> [(name: String, values: [Float])] {
        guard let rope = config.rope, let long = rope.longFrequencyFactors, let short = rope.frequencyFactors else { return [] }
        return [(longFactorsTensor, long), (shortFactorsTensor, short)]
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

    /// llama.cpp's phi3 (and its converter) state LongRoPE and nothing else of RoPE scaling.
    static func ggufProblem(_ config: ModelConfig) -> String? {
        guard let rope = config.rope, rope.longFrequencyFactors == nil, rope.frequencyFactors != nil || rope.attentionFactor != 1 else { return nil }
        return "llama.cpp's phi3 takes only LongRoPE's RoPE scaling; this model's is another"
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        var keys = LlamaStyle.ggufKeys(config, prefix: "phi3")
        if config.rope?.dimensions == nil { keys.append(("phi3.rope.dimension_count", .uint32(UInt32(config.headDim)))) }
        // The converter writes the window always, 0 for none (how llama.cpp tells Phi-4 from Phi-3).
        keys.append(("phi3.attention.sliding_window", .uint32(UInt32(config.slidingWindow))))
        if let rope = config.rope, rope.longFrequencyFactors != nil, let original = rope.originalContext {
            keys.append(("phi3.rope.scaling.original_context_length", .uint32(UInt32(original))))
            keys.append(("phi3.rope.scaling.attn_factor", .float32(Float(rope.attentionFactor))))
        }
        return keys
    }
}
