/// Gemma 3's text model (Hugging Face `gemma3_text`, `Gemma3ForCausalLM`; GGUF `gemma3`): RMSNorm of
/// `1 + w` before and after each sublayer ("sandwich"), per-head RMSNorm of q and k, GeGLU, the token
/// embedding scaled by √D, and sliding-window attention on five layers of every six with their own RoPE
/// base (10 000 local, `rope_theta` global).
///
/// llama.cpp's converter adds the 1 to every norm weight (`norm_shift`), so a GGUF's norms have offset 0
/// and a Hugging Face folder's offset 1; both are the same computation in the schema.
enum Gemma3: Architecture {
    static let name = "gemma3"
    static let hfModelTypes = ["gemma3_text"]
    static let ggufArchitectures = ["gemma3"]
    static let hfNormWeightOffset: Double = 1

    /// llama.cpp's fixed shape of Gemma 3 (`llama-model.cpp`): every sixth layer global, the rest sliding
    /// with RoPE base 10 000 unless `gemma3.rope.freq_base_swa` says otherwise.
    static let slidingPattern = 6
    static let slidingRopeBase = 10_000.0

    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .geluTanh && config.isGatedRopeDecoder(
            allowed: [.normWeightOffset, .embeddingScale, .attentionScale, .softcaps, .slidingWindow, .slidingRopeBase, .ropeFactors],
            required: [.qkNorm, .postNorms, .gelu])
    }

    // MARK: Hugging Face

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap {
        typealias Row = ArchitectureMap.Row
        return ArchitectureMap(
            family: .llama, prefixes: ["model."], buffers: ["layers.{i}.self_attn.rotary_emb.inv_freq"],
            rows: [
                Row("embed/token/weight", "embed_tokens.weight"),
                Row("layers/{i}/attn/q/weight", "layers.{i}.self_attn.q_proj.weight"),
                Row("layers/{i}/attn/k/weight", "layers.{i}.self_attn.k_proj.weight"),
                Row("layers/{i}/attn/v/weight", "layers.{i}.self_attn.v_proj.weight"),
                Row("layers/{i}/attn/o/weight", "layers.{i}.self_attn.o_proj.weight", .transpose),
                Row("layers/{i}/attn/q_norm/weight", "layers.{i}.self_attn.q_norm.weight"),
                Row("layers/{i}/attn/k_norm/weight", "layers.{i}.self_attn.k_norm.weight"),
                Row("layers/{i}/attn_norm/weight", "layers.{i}.input_layernorm.weight"),
                Row("layers/{i}/attn_post_norm/weight", "layers.{i}.post_attention_layernorm.weight"),
                Row("layers/{i}/mlp_norm/weight", "layers.{i}.pre_feedforward_layernorm.weight"),
                Row("layers/{i}/mlp_post_norm/weight", "layers.{i}.post_feedforward_layernorm.weight"),
                Row("layers/{i}/mlp/gate/weight", "layers.{i}.mlp.gate_proj.weight"),
                Row("layers/{i}/mlp/up/weight", "layers.{i}.mlp.up_proj.weight"),
                Row("layers/{i}/mlp/down/weight", "layers.{i}.mlp.down_proj.weight"),
                Row("final_norm/weight", "norm.weight"),
                Row("lm_head/weight", "lm_head.weight"),
            ])
    }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        let fields = HFConfigReader(json: json, file: file)
        let D = try fields.int("hidden_size"), H = try fields.int("num_attention_heads"), layers = try fields.int("num_hidden_layers")
        let d = try fields.int("head_dim", default: 256)
        var config = ModelConfig(
            family: .llama, vocabSize: try fields.int("vocab_size"), modelDim: D, layerCount: layers,
            headCount: H, keyValueHeadCount: try fields.int("num_key_value_heads", default: H), headDim: d,
            ffnDim: try fields.int("intermediate_size"), maxPositions: try fields.int("max_position_embeddings", default: 131_072),
            norm: .rmsnorm, normEpsilon: try fields.double("rms_norm_eps", default: 1e-6), normPlacement: .pre,
            activation: try fields.activation(json["hidden_activation"] != nil ? "hidden_activation" : "hidden_act", default: "gelu_pytorch_tanh"),
            positionEncoding: .rope)
        guard config.activation == .geluTanh else {
            throw ImportError.configField(file: file, field: "hidden_activation", reason: "is not gelu_pytorch_tanh; Gemma 3's GeGLU uses the tanh GELU")
        }
        config.gatedMLP = true
        config.qkNorm = true
        config.postNorms = true
        config.normWeightOffset = hfNormWeightOffset
        config.embeddingScale = Double(Float(D).squareRoot())
        config.tiedEmbeddings = try fields.bool("tie_word_embeddings", default: true)
        for field in ["attention_bias", "mlp_bias"] where try fields.bool(field, default: false) {
            throw ImportError.configField(file: file, field: field, reason: "is true; Gemma 3 has no biases")
        }
        let scalar = try fields.double("query_pre_attn_scalar", default: Double(d))
        guard scalar > 0 else { throw ImportError.configField(file: file, field: "query_pre_attn_scalar", reason: "must be positive") }
        if scalar != Double(d) { config.attentionScale = 1 / scalar.squareRoot() }
        config.attentionSoftcap = try fields.optionalDouble("attn_logit_softcapping") ?? 0
        config.finalSoftcap = try fields.optionalDouble("final_logit_softcapping") ?? 0

        config.slidingWindow = try fields.int("sliding_window", default: 4096)
        config.slidingLayers = try LlamaStyle.slidingLayers(json, file: file, layers: layers, defaultPattern: slidingPattern)

        // RoPE: `rope_theta` / `rope_local_base_freq` / `rope_scaling`, or transformers 5's
        // `rope_parameters: {full_attention: {...}, sliding_attention: {...}}`.
        var theta = try fields.double("rope_theta", default: 1_000_000)
        var local = try fields.double("rope_local_base_freq", default: slidingRopeBase)
        var scaling: JSONValue? = json["rope_scaling"].flatMap { $0 == .null ? nil : $0 }
        if let parameters = json["rope_parameters"], parameters != .null {
            if let full = parameters["full_attention"], full != .null {
                theta = try HFConfigReader(json: full, file: file).double("rope_theta", default: theta)
                scaling = full
            }
            if let sliding = parameters["sliding_attention"], sliding != .null {
                local = try HFConfigReader(json: sliding, file: file).double("rope_theta", default: local)
                let type = try HFConfigReader(json: sliding, file: file).optionalString("rope_type") ?? "default"
                guard type == "default" else {
                    throw ImportError.configField(file: file, field: "rope_parameters.sliding_attention.rope_type", reason: "is '\(type)'; sliding layers use plain RoPE")
                }
            }
        }
        config.rope = .init(theta: theta, layout: .half, slidingTheta: local)
        try RopeScaling.steps(scaling, field: "rope_scaling", file: file, theta: theta, dims: d, model: json).apply(to: &config.rope!)
        if let bos = try fields.optionalInt("bos_token_id") { config.specialTokens[.bos] = bos }
        if let eos = try fields.optionalInt("eos_token_id") { config.specialTokens[.eos] = eos }
        if let pad = try fields.optionalInt("pad_token_id") { config.specialTokens[.pad] = pad }
        return config
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        gemmaConfigMembers(config, architecture: "Gemma3ForCausalLM", modelType: "gemma3_text", localRopeBase: true)
    }

    /// The `config.json` members Gemma 2 and 3 share; with `localRopeBase` (Gemma 3) the sliding layers'
    /// RoPE base too, which is `rope_theta` when the model has none of its own.
    static func gemmaConfigMembers(_ config: ModelConfig, architecture: String, modelType: String, localRopeBase: Bool) -> [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture)])), ("model_type", .string(modelType)),
            ("hidden_size", .int(config.modelDim)), ("num_hidden_layers", .int(config.layerCount)),
            ("num_attention_heads", .int(config.headCount)), ("num_key_value_heads", .int(config.keyValueHeadCount)),
            ("head_dim", .int(config.headDim)), ("intermediate_size", .int(config.ffnDim)),
            ("hidden_activation", .string("gelu_pytorch_tanh")), ("max_position_embeddings", .int(config.maxPositions)),
            ("rms_norm_eps", .double(config.normEpsilon)), ("rope_theta", .double(config.rope?.theta ?? 1_000_000)),
        ]
        if localRopeBase { members.append(("rope_local_base_freq", .double(config.rope?.slidingTheta ?? config.rope?.theta ?? slidingRopeBase))) }
        members += [
            ("sliding_window", .int(config.slidingWindow)), ("layer_types", LlamaStyle.layerTypes(config)),
            ("query_pre_attn_scalar", .double(1 / (config.effectiveAttentionScale * config.effectiveAttentionScale))),
            ("attn_logit_softcapping", config.attentionSoftcap > 0 ? .double(config.attentionSoftcap) : .null),
            ("final_logit_softcapping", config.finalSoftcap > 0 ? .double(config.finalSoftcap) : .null),
            ("vocab_size", .int(config.vocabSize)), ("tie_word_embeddings", .bool(config.tiedEmbeddings)),
            ("attention_bias", .bool(false)),
        ]
        if let factors = config.rope?.frequencyFactors, let scaling = RopeScaling.linearJSON(factors) { members.append(("rope_scaling", scaling)) }
        if let pad = config.specialTokens[.pad] { members.append(("pad_token_id", .int(pad))) }
        return members
    }

    // MARK: GGUF

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int("gemma3." + key, fallback, minimum: 1) }
        let D = try int("embedding_length"), H = try int("attention.head_count"), layers = try int("block_count")
        let d = try int("attention.key_length", D / H)
        let valueLength = try int("attention.value_length", d)
        guard valueLength == d else {
            throw ImportError.configField(file: file.path, field: "gemma3.attention.value_length", reason: "is \(valueLength) but key_length is \(d); qkv needs equal key and value heads")
        }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .llama, vocabSize: embedding.dims[1], modelDim: D, layerCount: layers,
            headCount: H, keyValueHeadCount: try int("attention.head_count_kv", H), headDim: d,
            ffnDim: try int("feed_forward_length"), maxPositions: try int("context_length", 131_072),
            norm: .rmsnorm, normEpsilon: try keys.float("gemma3.attention.layer_norm_rms_epsilon", 1e-6), normPlacement: .pre,
            activation: .geluTanh, positionEncoding: .rope)
        config.gatedMLP = true
        config.qkNorm = true
        config.postNorms = true
        config.embeddingScale = Double(Float(D).squareRoot())
        config.tiedEmbeddings = file.tensorInfo("output.weight") == nil
        // llama.cpp scales queries by 1/√d, except for the 27B model (1/√(D/H), its query_pre_attn_scalar).
        if D == 5376 && layers == 62 { config.attentionScale = 1 / Double(D / H).squareRoot() }
        config.slidingWindow = try int("attention.sliding_window")
        config.slidingLayers = LlamaStyle.patternLayers(count: layers, pattern: slidingPattern)
        config.rope = .init(theta: try keys.float("gemma3.rope.freq_base", 10_000), layout: .half,
                            slidingTheta: try keys.float("gemma3.rope.freq_base_swa", slidingRopeBase))
        if let dims = file["gemma3.rope.dimension_count"]?.integerValue, dims != d {
            throw ImportError.configField(file: file.path, field: "gemma3.rope.dimension_count", reason: "is \(dims) but heads have \(d) dimensions; Gemma 3 rotates whole heads")
        }
        switch file["gemma3.rope.scaling.type"]?.stringValue {
        case nil, "none": break
        case "linear":
            let factor = try keys.float("gemma3.rope.scaling.factor", 1)
            guard factor.isFinite && factor > 0 else {
                throw ImportError.configField(file: file.path, field: "gemma3.rope.scaling.factor", reason: "is \(factor); expected a positive number")
            }
            if factor != 1 { config.rope?.frequencyFactors = Array(repeating: Float(factor), count: d / 2) }
        case let other?:
            throw ImportError.configField(file: file.path, field: "gemma3.rope.scaling.type", reason: "is '\(other)'; Gemma 3 uses none or linear")
        }
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        // llama.cpp runs Gemma's RoPE in the NeoX (`half`) pairing: Q and K rows are not permuted.
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: false)
    }

    /// Why llama.cpp's Gemma 3 cannot run `config` (it fixes what the schema leaves free), or nil.
    static func ggufProblem(_ config: ModelConfig) -> String? {
        if config.slidingLayers != LlamaStyle.patternLayers(count: config.layerCount, pattern: slidingPattern) {
            return "llama.cpp's gemma3 has sliding attention on five layers of every six; this model's layers differ"
        }
        if config.attentionSoftcap != 0 || config.finalSoftcap != 0 { return "llama.cpp's gemma3 has no soft caps" }
        if let factors = config.rope?.frequencyFactors, factors.contains(where: { $0 != factors[0] }) {
            return "llama.cpp's gemma3 takes only linear RoPE scaling"
        }
        return nil
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        var keys: [(String, GGUFValue)] = [
            ("gemma3.context_length", .uint32(UInt32(config.maxPositions))),
            ("gemma3.embedding_length", .uint32(UInt32(config.modelDim))),
            ("gemma3.block_count", .uint32(UInt32(config.layerCount))),
            ("gemma3.feed_forward_length", .uint32(UInt32(config.ffnDim))),
            ("gemma3.attention.head_count", .uint32(UInt32(config.headCount))),
            ("gemma3.attention.layer_norm_rms_epsilon", .float32(Float(config.normEpsilon))),
            ("gemma3.attention.key_length", .uint32(UInt32(config.headDim))),
            ("gemma3.attention.value_length", .uint32(UInt32(config.headDim))),
            ("gemma3.rope.freq_base", .float32(Float(config.rope?.theta ?? 10_000))),
            ("gemma3.attention.sliding_window", .uint32(UInt32(config.slidingWindow))),
            ("gemma3.attention.head_count_kv", .uint32(UInt32(config.keyValueHeadCount))),
        ]
        if let sliding = config.rope?.slidingTheta { keys.append(("gemma3.rope.freq_base_swa", .float32(Float(sliding)))) }
        if let factor = config.rope?.frequencyFactors?.first {
            keys.append(("gemma3.rope.scaling.type", .string("linear")))
            keys.append(("gemma3.rope.scaling.factor", .float32(factor)))
        }
        return keys
    }
}
