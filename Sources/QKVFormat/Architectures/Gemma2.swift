/// Gemma 2 (Hugging Face `gemma2`; GGUF `gemma2`): Gemma's sandwich of `1 + w` RMSNorms, GeGLU and √D
/// embedding scale, with soft caps on attention scores (50) and logits (30) and a sliding window on every
/// other layer (even layers sliding, odd layers global), one RoPE base for all.
enum Gemma2: Architecture {
    static let name = "gemma2"
    static let hfModelTypes = ["gemma2"]
    static let ggufArchitectures = ["gemma2"]
    static let hfNormWeightOffset: Double = 1

    /// llama.cpp's fixed pattern (`set_swa_pattern(2)`): layer i slides when i is even.
    static let slidingPattern = 2

    static func canHold(_ config: ModelConfig) -> Bool {
        config.activation == .geluTanh && config.isGatedRopeDecoder(
            allowed: [.normWeightOffset, .embeddingScale, .attentionScale, .softcaps, .slidingWindow, .ropeFactors],
            required: [.postNorms, .gelu])
    }

    // MARK: Hugging Face

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { Gemma3.hfMap(config) }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try LlamaStyle.hfConfig(json, file: file, activationField: json["hidden_activation"] != nil ? "hidden_activation" : "hidden_act")
        let fields = HFConfigReader(json: json, file: file)
        guard config.activation == .geluTanh else {
            throw ImportError.configField(file: file, field: "hidden_activation", reason: "is not gelu_pytorch_tanh; Gemma 2's GeGLU uses the tanh GELU")
        }
        config.postNorms = true
        config.normWeightOffset = hfNormWeightOffset
        config.embeddingScale = Double(Float(config.modelDim).squareRoot())
        config.tiedEmbeddings = try fields.bool("tie_word_embeddings", default: true)
        let scalar = try fields.double("query_pre_attn_scalar", default: Double(config.headDim))
        guard scalar > 0 else { throw ImportError.configField(file: file, field: "query_pre_attn_scalar", reason: "must be positive") }
        if scalar != Double(config.headDim) { config.attentionScale = 1 / scalar.squareRoot() }
        config.attentionSoftcap = try fields.optionalDouble("attn_logit_softcapping") ?? 0
        config.finalSoftcap = try fields.optionalDouble("final_logit_softcapping") ?? 0
        config.slidingWindow = try fields.int("sliding_window", default: 4096)
        config.slidingLayers = try LlamaStyle.slidingLayers(json, file: file, layers: config.layerCount, defaultPattern: slidingPattern, slidingFirst: true)
        if let pad = try fields.optionalInt("pad_token_id") { config.specialTokens[.pad] = pad }
        return config
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        Gemma3.gemmaConfigMembers(config, architecture: "Gemma2ForCausalLM", modelType: "gemma2", localRopeBase: false)
    }

    // MARK: GGUF

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        var config = try LlamaStyle.ggufConfig(file, prefix: "gemma2", activation: .geluTanh)
        let keys = GGUFKeys(file)
        config.postNorms = true
        config.embeddingScale = Double(Float(config.modelDim).squareRoot())
        // llama.cpp scales queries by 1/√d, except for the 27B model (1/√(D/H), its query_pre_attn_scalar).
        if config.modelDim == 4608 && config.layerCount == 46 { config.attentionScale = 1 / Double(config.modelDim / config.headCount).squareRoot() }
        config.attentionSoftcap = try keys.float("gemma2.attn_logit_softcapping", 50)
        config.finalSoftcap = try keys.float("gemma2.final_logit_softcapping", 30)
        config.slidingWindow = try keys.int("gemma2.attention.sliding_window", 4096, minimum: 1)
        config.slidingLayers = LlamaStyle.patternLayers(count: config.layerCount, pattern: slidingPattern, slidingFirst: true)
        return config
    }

    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        LlamaStyle.ggufSource(for: name, config: config, permutedRope: false)
    }

    /// Why llama.cpp's Gemma 2 cannot run `config`, or nil.
    static func ggufProblem(_ config: ModelConfig) -> String? {
        if config.slidingLayers != LlamaStyle.patternLayers(count: config.layerCount, pattern: slidingPattern, slidingFirst: true) {
            return "llama.cpp's gemma2 has sliding attention on the even layers; this model's layers differ"
        }
        if config.rope?.frequencyFactors != nil { return "llama.cpp's gemma2 has no RoPE scaling" }
        return nil
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        [("gemma2.context_length", .uint32(UInt32(config.maxPositions))),
         ("gemma2.embedding_length", .uint32(UInt32(config.modelDim))),
         ("gemma2.block_count", .uint32(UInt32(config.layerCount))),
         ("gemma2.feed_forward_length", .uint32(UInt32(config.ffnDim))),
         ("gemma2.attention.head_count", .uint32(UInt32(config.headCount))),
         ("gemma2.attention.head_count_kv", .uint32(UInt32(config.keyValueHeadCount))),
         ("gemma2.attention.layer_norm_rms_epsilon", .float32(Float(config.normEpsilon))),
         ("gemma2.attention.key_length", .uint32(UInt32(config.headDim))),
         ("gemma2.attention.value_length", .uint32(UInt32(config.headDim))),
         ("gemma2.attn_logit_softcapping", .float32(Float(config.attentionSoftcap))),
         ("gemma2.final_logit_softcapping", .float32(Float(config.finalSoftcap))),
         ("gemma2.attention.sliding_window", .uint32(UInt32(config.slidingWindow)))]
    }
}
