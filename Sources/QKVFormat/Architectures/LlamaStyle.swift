/// The names most decoders share, so each architecture file states only what differs: Hugging Face's
/// `model.layers.{i}.self_attn.q_proj` family of names, and llama.cpp's `blk.{i}.attn_q` family.
enum LlamaStyle {
    typealias Row = ArchitectureMap.Row

    /// Hugging Face rows of a LLaMA-style decoder (names after `model.`): the projections with the biases
    /// the config has, q/k norms, and the norms. `post_attention_layernorm` is the MLP's input norm here
    /// (LLaMA, Qwen, Mistral); sandwich models (Gemma) name their norms differently and list their own.
    static func hfRows(_ config: ModelConfig) -> [Row] {
        var rows: [Row] = [
            Row("embed/token/weight", "embed_tokens.weight"),
            Row("layers/{i}/attn_norm/weight", "layers.{i}.input_layernorm.weight"),
            Row("layers/{i}/attn/q/weight", "layers.{i}.self_attn.q_proj.weight"),
            Row("layers/{i}/attn/k/weight", "layers.{i}.self_attn.k_proj.weight"),
            Row("layers/{i}/attn/v/weight", "layers.{i}.self_attn.v_proj.weight"),
            Row("layers/{i}/attn/o/weight", "layers.{i}.self_attn.o_proj.weight", .transpose),
            Row("layers/{i}/mlp_norm/weight", "layers.{i}.post_attention_layernorm.weight"),
            Row("layers/{i}/mlp/gate/weight", "layers.{i}.mlp.gate_proj.weight"),
            Row("layers/{i}/mlp/up/weight", "layers.{i}.mlp.up_proj.weight"),
            Row("layers/{i}/mlp/down/weight", "layers.{i}.mlp.down_proj.weight"),
            Row("final_norm/weight", "norm.weight"),
            Row("lm_head/weight", "lm_head.weight"),
        ]
        if config.hasQKVBias {
            rows += ["q", "k", "v"].map { Row("layers/{i}/attn/\($0)/bias", "layers.{i}.self_attn.\($0)_proj.bias") }
        }
        if config.attentionBias { rows.append(Row("layers/{i}/attn/o/bias", "layers.{i}.self_attn.o_proj.bias")) }
        if config.mlpBias {
            rows += ["gate", "up", "down"].map { Row("layers/{i}/mlp/\($0)/bias", "layers.{i}.mlp.\($0)_proj.bias") }
        }
        if config.qkNorm {
            rows.append(Row("layers/{i}/attn/q_norm/weight", "layers.{i}.self_attn.q_norm.weight"))
            rows.append(Row("layers/{i}/attn/k_norm/weight", "layers.{i}.self_attn.k_norm.weight"))
        }
        // A model whose Q and K rotate interleaved pairs (kept so from a llama GGUF) meets Hugging Face's
        // half order: its Q and K rows, biases and head norms are permuted on the way.
        if config.rope?.layout == .interleaved {
            for (i, row) in rows.enumerated() {
                switch row.canonical {
                case "layers/{i}/attn/q/weight", "layers/{i}/attn/q/bias": rows[i].transform = .permuteRope(heads: config.headCount)
                case "layers/{i}/attn/k/weight", "layers/{i}/attn/k/bias": rows[i].transform = .permuteRope(heads: config.keyValueHeadCount)
                case "layers/{i}/attn/q_norm/weight", "layers/{i}/attn/k_norm/weight": rows[i].transform = .permuteRope(heads: 1)
                default: break
                }
            }
        }
        return rows
    }

    /// The ArchitectureMap of `hfRows` (prefix `model.`, RoPE buffers dropped).
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap {
        ArchitectureMap(family: .llama, prefixes: ["model."], buffers: ["layers.{i}.self_attn.rotary_emb.inv_freq"], rows: hfRows(config))
    }

    /// llama.cpp's tensor for canonical `name` (`LLM_TENSOR_*` names). With `permutedRope`, Q and K rows
    /// are in llama.cpp's RoPE order (its `llama` architecture) and the canonical ones in Hugging Face's
    /// (`half`), so they are permuted on the way; every other architecture keeps Hugging Face's order
    /// (NeoX-style RoPE), as does a `llama` model whose canonical layout is `interleaved` already.
    static func ggufSource(for name: String, config: ModelConfig, permutedRope: Bool) -> (String, TensorTransform)? {
        switch name {
        case "embed/token/weight": return ("token_embd.weight", .view)
        case "final_norm/weight": return ("output_norm.weight", .view)
        case "lm_head/weight": return ("output.weight", .view)
        default: break
        }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let rest = parts.dropFirst(2).joined(separator: "/")
        let names: [String: String] = [
            "attn/q": "attn_q", "attn/k": "attn_k", "attn/v": "attn_v", "attn/o": "attn_output",
            "attn/q_norm": "attn_q_norm", "attn/k_norm": "attn_k_norm", "attn_norm": "attn_norm",
            "attn_post_norm": "post_attention_norm", "mlp_norm": "ffn_norm", "mlp_post_norm": "post_ffw_norm",
            "mlp/gate": "ffn_gate", "mlp/up": "ffn_up", "mlp/down": "ffn_down",
        ]
        guard let slash = rest.lastIndex(of: "/"), let base = names[String(rest[..<slash])] else { return nil }
        let suffix = rest[rest.index(after: slash)...]
        guard suffix == "weight" || suffix == "bias" else { return nil }
        let tensor = "blk.\(layer).\(base).\(suffix)"
        switch (base, suffix) {
        case ("attn_output", "weight"): return (tensor, .transpose)
        case ("attn_q", "weight") where permutedRope: return (tensor, .unpermuteRope(heads: config.headCount))
        case ("attn_k", "weight") where permutedRope: return (tensor, .unpermuteRope(heads: config.keyValueHeadCount))
        default: return (tensor, .view)
        }
    }

    /// The dimensions llama.cpp's decoders share under `<prefix>.` (`LLM_KV_*`).
    static func ggufConfig(_ file: GGUFFile, prefix: String, activation: ModelConfig.Activation, defaultEpsilon: Double = 1e-6) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int("\(prefix).\(key)", fallback, minimum: 1) }
        let D = try int("embedding_length"), H = try int("attention.head_count")
        let d = try int("attention.key_length", D / H)
        if let value = file["\(prefix).attention.value_length"]?.integerValue, value != d {
            throw ImportError.configField(file: file.path, field: "\(prefix).attention.value_length", reason: "is \(value) but key_length is \(d); qkv needs equal key and value heads")
        }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .llama, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("block_count"),
            headCount: H, keyValueHeadCount: try int("attention.head_count_kv", H), headDim: d,
            ffnDim: try int("feed_forward_length"), maxPositions: try int("context_length", 2048),
            norm: .rmsnorm, normEpsilon: try keys.float("\(prefix).attention.layer_norm_rms_epsilon", defaultEpsilon), normPlacement: .pre,
            activation: activation, positionEncoding: .rope)
        config.gatedMLP = true
        config.tiedEmbeddings = file.tensorInfo("output.weight") == nil
        let ropeDims = try int("rope.dimension_count", d)
        guard ropeDims % 2 == 0, ropeDims <= d else {
            throw ImportError.configField(file: file.path, field: "\(prefix).rope.dimension_count", reason: "is \(ropeDims); expected an even number up to the head dimension \(d)")
        }
        config.rope = .init(theta: try keys.float("\(prefix).rope.freq_base", 10000), layout: .half, dimensions: ropeDims == d ? nil : ropeDims)
        return config
    }

    /// The keys `ggufConfig` reads, as llama.cpp's converter writes them.
    static func ggufKeys(_ config: ModelConfig, prefix: String) -> [(String, GGUFValue)] {
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        var keys: [(String, GGUFValue)] = [
            ("\(prefix).context_length", u32(config.maxPositions)),
            ("\(prefix).embedding_length", u32(config.modelDim)),
            ("\(prefix).block_count", u32(config.layerCount)),
            ("\(prefix).feed_forward_length", u32(config.ffnDim)),
            ("\(prefix).attention.head_count", u32(config.headCount)),
            ("\(prefix).attention.head_count_kv", u32(config.keyValueHeadCount)),
            ("\(prefix).rope.freq_base", .float32(Float(config.rope?.theta ?? 10000))),
            ("\(prefix).attention.layer_norm_rms_epsilon", .float32(Float(config.normEpsilon))),
        ]
        if config.headDim != config.modelDim / config.headCount {
            keys.append(("\(prefix).attention.key_length", u32(config.headDim)))
            keys.append(("\(prefix).attention.value_length", u32(config.headDim)))
        }
        if let dims = config.rope?.dimensions { keys.append(("\(prefix).rope.dimension_count", u32(dims))) }
        return keys
    }

    // MARK: RoPE scaling in GGUF

    /// llama.cpp's `<prefix>.rope.scaling.*` keys as the schema's RoPE steps (`config` holds the RoPE
    /// dimensions). `linear` divides every frequency by `factor` (with `linear: false`, Llama, whose
    /// divisors qkv reads and writes as `rope_freqs`, it is refused); `yarn` is transformers' YaRN with
    /// `factor`, `original_context_length` (default: the context length), `yarn_beta_fast` / `yarn_beta_slow`
    /// (default 32 / 1) and the attention factor `yarn_attn_factor` (default 0.1 · ln(factor) + 1) times
    /// `attn_factor` (default 1). The keys mean what they meant in the config.json the converter read: that
    /// is what transformers computes; llama.cpp's own loaders for these architectures read neither the beta
    /// keys nor `yarn_attn_factor`, so on a file that has them llama.cpp computes with the defaults.
    /// `yarn_ext_factor` other than 1 and `yarn_log_multiplier` (DeepSeek's mscale) are refused, named, as
    /// is any other type.
    static func ggufRopeScaling(_ file: GGUFFile, prefix: String, config: inout ModelConfig, linear: Bool = true) throws {
        let keys = GGUFKeys(file), scaling = "\(prefix).rope.scaling."
        guard var rope = config.rope else { return }
        let dims = rope.dimensions ?? config.headDim
        func refuse(_ key: String, _ reason: String) -> ImportError { .configField(file: file.path, field: scaling + key, reason: reason) }
        let factorValue = file[scaling + "factor"]?.floatValue
        // llama.cpp's default type is linear: a factor without a type scales linearly.
        let type = file[scaling + "type"]?.stringValue ?? (factorValue == nil ? "none" : "linear")
        switch type {
        case "none":
            return
        case "linear":
            let factor = try keys.float(scaling + "factor", 1)
            guard factor.isFinite && factor > 0 else { throw refuse("factor", "is \(factor); expected a positive number") }
            if factor == 1 { return }
            guard linear else { throw refuse("type", "is linear; qkv reads a \(prefix) GGUF's RoPE divisors from rope_freqs only") }
            rope.frequencyFactors = Array(repeating: Float(factor), count: dims / 2)
        case "yarn":
            guard let factor = factorValue, factor.isFinite, factor > 0 else { throw refuse("factor", "must be a positive number with yarn") }
            if let ext = file[scaling + "yarn_ext_factor"]?.floatValue, ext != 1 {
                throw refuse("yarn_ext_factor", "is \(ext); qkv computes YaRN with the full ramp (1)")
            }
            if file[scaling + "yarn_log_multiplier"] != nil {
                throw refuse("yarn_log_multiplier", "is set (DeepSeek's mscale), which qkv does not compute")
            }
            let original = try keys.int(scaling + "original_context_length", config.maxPositions, minimum: 1)
            let betaFast = try keys.float(scaling + "yarn_beta_fast", 32), betaSlow = try keys.float(scaling + "yarn_beta_slow", 1)
            guard betaFast > 0, betaSlow > 0 else { throw refuse("yarn_beta_fast", "and yarn_beta_slow must be positive") }
            rope.frequencyFactors = RopeScaling.yarnFactors(theta: rope.theta, dims: dims, factor: factor, original: original,
                                                            betaFast: betaFast, betaSlow: betaSlow, truncate: true)
            rope.attentionFactor = try keys.float(scaling + "yarn_attn_factor", RopeScaling.yarnMscale(factor, 1)) * keys.float(scaling + "attn_factor", 1)
            guard rope.attentionFactor.isFinite && rope.attentionFactor > 0 else { throw refuse("attn_factor", "gives the attention factor \(rope.attentionFactor); expected a positive number") }
        default:
            throw refuse("type", "is '\(type)'; qkv reads none, linear and yarn here")
        }
        config.rope = rope
    }

    /// The `<prefix>.rope.scaling.*` keys of `config`'s RoPE scaling, as llama.cpp's converter writes them
    /// (`linear`: type and factor; YaRN: type, factor, original context and the parameters the kept
    /// `provenance.hf_rope_scaling` states), for architectures that have no `rope_freqs` tensor; with
    /// `divisorsAsTensor` (Llama) divisors that are not YaRN's go as `rope_freqs` and need no key. A scaling
    /// the keys cannot state is an error naming `target`.
    static func ggufScalingKeys(_ config: ModelConfig, prefix: String, metadata: Metadata, target: String, divisorsAsTensor: Bool = false) throws -> [(String, GGUFValue)] {
        guard let rope = config.rope, let factors = rope.frequencyFactors else { return [] }
        func refuse(_ reason: String) -> ConversionError { .unsupportedTarget(output: target, reason: reason) }
        if rope.longFrequencyFactors != nil { throw refuse("llama.cpp's \(prefix) has no LongRoPE (two sets of RoPE divisors)") }
        let scaling = "\(prefix).rope.scaling."
        if rope.attentionFactor == 1 {
            if divisorsAsTensor { return [] }
            guard let first = factors.first, factors.allSatisfy({ $0 == first }) else {
                throw refuse("llama.cpp's \(prefix) takes RoPE divisors only as a linear or YaRN scaling; these are neither")
            }
            return [(scaling + "type", .string("linear")), (scaling + "factor", .float32(first))]
        }
        // YaRN: its parameters, from the rope_scaling the import kept, when it gives these steps.
        let dims = rope.dimensions ?? config.headDim
        guard case .string(let text)? = metadata["provenance.hf_rope_scaling"], let kept = try? JSONParser.parse(Array(text.utf8)),
              let json = kept.objectValue, (kept["rope_type"] ?? kept["type"])?.stringValue == "yarn",
              (try? RopeScaling.steps(kept, field: "rope_scaling", file: target, theta: rope.theta, dims: dims, model: .object(hfConfigMembers(config, architecture: "", modelType: "")))) == RopeScaling.Steps(rope),
              let factor = kept["factor"]?.doubleValue else {
            throw refuse("its RoPE divisors and attention factor are not a linear scaling, and no YaRN rope_scaling that gives them was kept; llama.cpp's keys cannot state them")
        }
        var keys: [(String, GGUFValue)] = [(scaling + "type", .string("yarn")), (scaling + "factor", .float32(Float(factor))),
                                           (scaling + "original_context_length", .uint32(UInt32(kept["original_max_position_embeddings"]?.int64Value ?? Int64(config.maxPositions))))]
        if kept["truncate"]?.boolValue == false {
            throw refuse("its YaRN has truncate: false, and llama.cpp always floors and ceils the ramp's bounds")
        }
        let names = json.map(\.key)
        // The attention factor when config.json gave one, or when it is not the one the factor gives
        // (DeepSeek-style mscale / mscale_all_dim, which the keys cannot state otherwise).
        if names.contains("attention_factor") || rope.attentionFactor != RopeScaling.yarnMscale(factor, 1) {
            keys.append((scaling + "yarn_attn_factor", .float32(Float(rope.attentionFactor))))
        }
        if names.contains("beta_fast"), let value = kept["beta_fast"]?.doubleValue { keys.append((scaling + "yarn_beta_fast", .float32(Float(value)))) }
        if names.contains("beta_slow"), let value = kept["beta_slow"]?.doubleValue { keys.append((scaling + "yarn_beta_slow", .float32(Float(value)))) }
        return keys
    }

    /// The fields Hugging Face's LLaMA-style configs share (`hidden_size`, `num_key_value_heads`,
    /// `rope_theta` with `rope_scaling` / `rope_parameters`, ...).
    static func hfConfig(_ json: JSONValue, file: String, activationField: String = "hidden_act") throws -> ModelConfig {
        let fields = HFConfigReader(json: json, file: file)
        let D = try fields.int("hidden_size"), H = try fields.int("num_attention_heads")
        var config = ModelConfig(
            family: .llama, vocabSize: try fields.int("vocab_size"), modelDim: D, layerCount: try fields.int("num_hidden_layers"),
            headCount: H, keyValueHeadCount: try fields.int("num_key_value_heads", default: H),
            headDim: try fields.optionalInt("head_dim") ?? D / H, ffnDim: try fields.int("intermediate_size"),
            maxPositions: try fields.int("max_position_embeddings", default: 2048), norm: .rmsnorm,
            normEpsilon: try fields.double("rms_norm_eps", default: 1e-6), normPlacement: .pre,
            activation: try fields.activation(activationField, default: "silu"), positionEncoding: .rope)
        config.gatedMLP = true
        config.tiedEmbeddings = try fields.bool("tie_word_embeddings", default: false)
        var scaling = json["rope_scaling"], scalingField = "rope_scaling"
        var theta = try fields.double("rope_theta", default: 10000)
        if let parameters = json["rope_parameters"], parameters != .null {
            theta = try HFConfigReader(json: parameters, file: file).double("rope_theta", default: theta)
            scaling = parameters
            scalingField = "rope_parameters"
        }
        let factor = try fields.optionalDouble("partial_rotary_factor") ?? 1
        let ropeDims = Int((Double(config.headDim) * factor).rounded(.down))
        guard factor > 0, factor <= 1, ropeDims % 2 == 0, ropeDims > 0 else {
            throw ImportError.configField(file: file, field: "partial_rotary_factor", reason: "is \(factor); expected (0, 1] giving an even number of dimensions")
        }
        config.rope = .init(theta: theta, layout: .half, dimensions: ropeDims == config.headDim ? nil : ropeDims)
        try RopeScaling.steps(scaling, field: scalingField, file: file, theta: theta, dims: ropeDims, model: json).apply(to: &config.rope!)
        if let bos = try fields.optionalInt("bos_token_id") { config.specialTokens[.bos] = bos }
        if let eos = try fields.optionalInt("eos_token_id") { config.specialTokens[.eos] = eos }
        return config
    }

    /// The `config.json` members of `hfConfig`, for an export.
    static func hfConfigMembers(_ config: ModelConfig, architecture: String, modelType: String) -> [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture)])), ("model_type", .string(modelType)),
            ("hidden_size", .int(config.modelDim)), ("num_hidden_layers", .int(config.layerCount)),
            ("num_attention_heads", .int(config.headCount)), ("num_key_value_heads", .int(config.keyValueHeadCount)),
            ("head_dim", .int(config.headDim)), ("intermediate_size", .int(config.ffnDim)), ("hidden_act", .string(config.activation.hfName)),
            ("max_position_embeddings", .int(config.maxPositions)), ("rms_norm_eps", .double(config.normEpsilon)),
            ("rope_theta", .double(config.rope?.theta ?? 10000)), ("vocab_size", .int(config.vocabSize)),
            ("tie_word_embeddings", .bool(config.tiedEmbeddings)),
        ]
        if let dims = config.rope?.dimensions { members.append(("partial_rotary_factor", .double(Double(dims) / Double(config.headDim)))) }
        return members
    }

    // MARK: Sliding layers

    /// Layer i is sliding unless it is the last of a group of `pattern` (llama.cpp's `set_swa_pattern`,
    /// transformers' `sliding_window_pattern`); with `slidingFirst` (Gemma 2) only the first of each group
    /// slides.
    static func patternLayers(count: Int, pattern: Int, slidingFirst: Bool = false) -> [Bool] {
        (0..<count).map { i in
            if pattern <= 0 { return true }
            return slidingFirst ? i % pattern == 0 : (i + 1) % pattern != 0
        }
    }

    /// `layer_types` (transformers ≥ 4.53) when the config lists them, else `sliding_window_pattern`
    /// (default `defaultPattern`).
    static func slidingLayers(_ json: JSONValue, file: String, layers: Int, defaultPattern: Int, slidingFirst: Bool = false) throws -> [Bool] {
        if let types = json["layer_types"], types != .null {
            guard let list = types.arrayValue, list.count == layers else {
                throw ImportError.configField(file: file, field: "layer_types", reason: "must list one type per layer (\(layers))")
            }
            return try list.enumerated().map { i, type in
                switch type.stringValue {
                case "sliding_attention": return true
                case "full_attention": return false
                default: throw ImportError.configField(file: file, field: "layer_types[\(i)]", reason: "is \(type.text); expected sliding_attention or full_attention")
                }
            }
        }
        let pattern = try HFConfigReader(json: json, file: file).int("sliding_window_pattern", default: defaultPattern)
        return patternLayers(count: layers, pattern: pattern, slidingFirst: slidingFirst)
    }

    /// `layer_types` for config.json: each layer sliding or full.
    static func layerTypes(_ config: ModelConfig) -> JSONValue {
        .array((0..<config.layerCount).map { .string(config.isSliding(layer: $0) ? "sliding_attention" : "full_attention") })
    }
}
