/// LLaMA and Mistral checkpoints without the newer steps (Hugging Face `llama`, `mistral`; GGUF `llama`):
/// RMSNorm, RoPE, SwiGLU, GQA. The tables are `ArchitectureMap.llama` and `GGUFMaps.llamaSource`.
enum LlamaFamily: Architecture {
    static let name = "llama"
    static let hfModelTypes = ["llama", "mistral"]
    static let ggufArchitectures = ["llama"]

    static func canHold(_ config: ModelConfig) -> Bool {
        config.family == .llama && !config.usesNewerSteps && !config.attentionBias && !config.mlpBias
    }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig { try ArchitectureMap.llama.config(from: json, file: file) }
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { .llama }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        [("architectures", .array([.string("LlamaForCausalLM")])), ("model_type", .string("llama")),
         ("hidden_size", .int(config.modelDim)), ("num_hidden_layers", .int(config.layerCount)),
         ("num_attention_heads", .int(config.headCount)), ("num_key_value_heads", .int(config.keyValueHeadCount)),
         ("head_dim", .int(config.headDim)), ("intermediate_size", .int(config.ffnDim)), ("hidden_act", .string(config.activation.hfName)),
         ("max_position_embeddings", .int(config.maxPositions)), ("rms_norm_eps", .double(config.normEpsilon)),
         ("rope_theta", .double(config.rope?.theta ?? 10000)), ("vocab_size", .int(config.vocabSize)),
         ("tie_word_embeddings", .bool(config.tiedEmbeddings)), ("attention_bias", .bool(false)), ("mlp_bias", .bool(false))]
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig { try GGUFMaps.llamaConfig(file) }
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? { GGUFMaps.llamaSource(for: name, config: config) }
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
        if config.headDim != config.modelDim / config.headCount {
            keys.append(("llama.attention.key_length", .uint32(UInt32(config.headDim))))
            keys.append(("llama.attention.value_length", .uint32(UInt32(config.headDim))))
        }
        return keys
    }
}

/// GPT-2 checkpoints (Hugging Face `gpt2`; GGUF `gpt2`): LayerNorm, learned positions, fused Conv1D Q|K|V.
enum GPT2Family: Architecture {
    static let name = "gpt2"
    static let hfModelTypes = ["gpt2"]
    static let ggufArchitectures = ["gpt2"]

    static func canHold(_ config: ModelConfig) -> Bool { config.family == .gpt2 && !config.usesNewerSteps }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig { try ArchitectureMap.gpt2.config(from: json, file: file) }
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { .gpt2 }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        [("architectures", .array([.string("GPT2LMHeadModel")])), ("model_type", .string("gpt2")),
         ("n_embd", .int(config.modelDim)), ("n_layer", .int(config.layerCount)), ("n_head", .int(config.headCount)),
         ("n_inner", .int(config.ffnDim)), ("n_positions", .int(config.maxPositions)), ("n_ctx", .int(config.maxPositions)),
         ("layer_norm_epsilon", .double(config.normEpsilon)), ("activation_function", .string(config.activation.hfName)),
         ("vocab_size", .int(config.vocabSize)), ("tie_word_embeddings", .bool(config.tiedEmbeddings))]
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig { try GGUFMaps.gpt2Config(file) }
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? { GGUFMaps.gpt2Source(for: name) }
    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        [("gpt2.block_count", .uint32(UInt32(config.layerCount))),
         ("gpt2.context_length", .uint32(UInt32(config.maxPositions))),
         ("gpt2.embedding_length", .uint32(UInt32(config.modelDim))),
         ("gpt2.feed_forward_length", .uint32(UInt32(config.ffnDim))),
         ("gpt2.attention.head_count", .uint32(UInt32(config.headCount))),
         ("gpt2.attention.layer_norm_epsilon", .float32(Float(config.normEpsilon)))]
    }
}

/// BERT encoders (Hugging Face `bert`; GGUF `bert`): post-norm LayerNorm, learned positions, token types.
enum BertFamily: Architecture {
    static let name = "bert"
    static let hfModelTypes = ["bert"]
    static let ggufArchitectures = ["bert"]

    static func canHold(_ config: ModelConfig) -> Bool { config.family == .bert && !config.usesNewerSteps }

    static func config(hf json: JSONValue, file: String) throws -> ModelConfig { try ArchitectureMap.bert.config(from: json, file: file) }
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { .bert }
    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string("BertModel")])), ("model_type", .string("bert")),
            ("hidden_size", .int(config.modelDim)), ("num_hidden_layers", .int(config.layerCount)),
            ("num_attention_heads", .int(config.headCount)), ("intermediate_size", .int(config.ffnDim)),
            ("hidden_act", .string(config.activation.hfName)), ("max_position_embeddings", .int(config.maxPositions)),
            ("type_vocab_size", .int(config.typeVocabSize)), ("layer_norm_eps", .double(config.normEpsilon)),
            ("vocab_size", .int(config.vocabSize)), ("position_embedding_type", .string("absolute"))]
        if let pad = config.specialTokens[.pad] { members.append(("pad_token_id", .int(pad))) }
        return members
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig { try GGUFMaps.bertConfig(file) }
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? { GGUFMaps.bertSource(for: name) }
    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        var keys: [(String, GGUFValue)] = [
            ("bert.context_length", .uint32(UInt32(config.maxPositions))),
            ("bert.embedding_length", .uint32(UInt32(config.modelDim))),
            ("bert.feed_forward_length", .uint32(UInt32(config.ffnDim))),
            ("bert.block_count", .uint32(UInt32(config.layerCount))),
            ("bert.attention.head_count", .uint32(UInt32(config.headCount))),
            ("bert.attention.layer_norm_epsilon", .float32(Float(config.normEpsilon))),
            ("bert.attention.causal", .bool(false)),
        ]
        switch config.pooling {
        case .mean?: keys.append(("bert.pooling_type", .uint32(1)))
        case .cls?: keys.append(("bert.pooling_type", .uint32(2)))
        default: break
        }
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
