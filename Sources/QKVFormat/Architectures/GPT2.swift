/// GPT-2 (Hugging Face `gpt2`; GGUF `gpt2`): LayerNorm, learned positions, Conv1D weights (`[in, out]`)
/// with Q|K|V fused in `c_attn`.
enum GPT2: Architecture {
    static let name = "gpt2"
    static let hfModelTypes = ["gpt2"]
    static let ggufArchitectures = ["gpt2"]

    static func canHold(_ config: ModelConfig) -> Bool { config.family == .gpt2 && !config.usesNewerSteps }

    // MARK: Hugging Face

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap { table }

    static let table = ArchitectureMap(
        family: .gpt2, prefixes: ["transformer."], buffers: ["h.{i}.attn.bias", "h.{i}.attn.masked_bias"],
        rows: [
            ArchitectureMap.Row("embed/token/weight", "wte.weight"),
            ArchitectureMap.Row("embed/position/weight", "wpe.weight"),
            ArchitectureMap.Row("layers/{i}/attn/q/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 0)),
            ArchitectureMap.Row("layers/{i}/attn/q/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 0)),
            ArchitectureMap.Row("layers/{i}/attn/k/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 1)),
            ArchitectureMap.Row("layers/{i}/attn/k/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 1)),
            ArchitectureMap.Row("layers/{i}/attn/v/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 2)),
            ArchitectureMap.Row("layers/{i}/attn/v/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 2)),
            ArchitectureMap.Row("layers/{i}/attn/o/weight", "h.{i}.attn.c_proj.weight"),
            ArchitectureMap.Row("layers/{i}/attn/o/bias", "h.{i}.attn.c_proj.bias"),
            ArchitectureMap.Row("layers/{i}/attn_norm/weight", "h.{i}.ln_1.weight"),
            ArchitectureMap.Row("layers/{i}/attn_norm/bias", "h.{i}.ln_1.bias"),
            ArchitectureMap.Row("layers/{i}/mlp/up/weight", "h.{i}.mlp.c_fc.weight", .transpose),
            ArchitectureMap.Row("layers/{i}/mlp/up/bias", "h.{i}.mlp.c_fc.bias"),
            ArchitectureMap.Row("layers/{i}/mlp/down/weight", "h.{i}.mlp.c_proj.weight", .transpose),
            ArchitectureMap.Row("layers/{i}/mlp/down/bias", "h.{i}.mlp.c_proj.bias"),
            ArchitectureMap.Row("layers/{i}/mlp_norm/weight", "h.{i}.ln_2.weight"),
            ArchitectureMap.Row("layers/{i}/mlp_norm/bias", "h.{i}.ln_2.bias"),
            ArchitectureMap.Row("final_norm/weight", "ln_f.weight"),
            ArchitectureMap.Row("final_norm/bias", "ln_f.bias"),
            ArchitectureMap.Row("lm_head/weight", "lm_head.weight"),
        ]
    )


    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        let fields = HFConfigReader(json: json, file: file)
        let D = try fields.int("n_embd"), H = try fields.int("n_head")
        guard D % H == 0 else { throw ImportError.configField(file: file, field: "n_embd", reason: "(\(D)) is not a multiple of n_head (\(H))") }
        var config = ModelConfig(
            family: .gpt2, vocabSize: try fields.int("vocab_size"), modelDim: D, layerCount: try fields.int("n_layer"),
            headCount: H, keyValueHeadCount: H, headDim: D / H, ffnDim: try fields.optionalInt("n_inner") ?? 4 * D,
            maxPositions: try fields.int("n_positions"), norm: .layernorm,
            normEpsilon: try fields.double("layer_norm_epsilon", default: 1e-5), normPlacement: .pre,
            activation: try fields.activation("activation_function", default: "gelu_new"), positionEncoding: .learned)
        config.tiedEmbeddings = try fields.bool("tie_word_embeddings", default: true)
        config.attentionBias = true
        config.mlpBias = true
        if let bos = try fields.optionalInt("bos_token_id") { config.specialTokens[.bos] = bos }
        if let eos = try fields.optionalInt("eos_token_id") { config.specialTokens[.eos] = eos }
        return config
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        [("architectures", .array([.string("GPT2LMHeadModel")])), ("model_type", .string("gpt2")),
         ("n_embd", .int(config.modelDim)), ("n_layer", .int(config.layerCount)), ("n_head", .int(config.headCount)),
         ("n_inner", .int(config.ffnDim)), ("n_positions", .int(config.maxPositions)), ("n_ctx", .int(config.maxPositions)),
         ("layer_norm_epsilon", .double(config.normEpsilon)), ("activation_function", .string(config.activation.hfName)),
         ("vocab_size", .int(config.vocabSize)), ("tie_word_embeddings", .bool(config.tiedEmbeddings))]
    }

    // MARK: GGUF

    /// llama.cpp's GPT-2 (`convert_hf_to_gguf.py` GPT2Model): every Conv1D weight transposed to Linear's
    /// `[out, in]`, so Q|K|V are blocks of rows of `attn_qkv` and O is transposed like LLaMA's.
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        let top: [String: String] = [
            "embed/token/weight": "token_embd.weight", "embed/position/weight": "position_embd.weight",
            "final_norm/weight": "output_norm.weight", "final_norm/bias": "output_norm.bias", "lm_head/weight": "output.weight",
        ]
        if let found = top[name] { return (found, .view) }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let rows: [String: (String, TensorTransform)] = [
            "attn/q/weight": ("attn_qkv.weight", .fusedRows(part: 0)), "attn/q/bias": ("attn_qkv.bias", .fusedSlice(part: 0)),
            "attn/k/weight": ("attn_qkv.weight", .fusedRows(part: 1)), "attn/k/bias": ("attn_qkv.bias", .fusedSlice(part: 1)),
            "attn/v/weight": ("attn_qkv.weight", .fusedRows(part: 2)), "attn/v/bias": ("attn_qkv.bias", .fusedSlice(part: 2)),
            "attn/o/weight": ("attn_output.weight", .transpose), "attn/o/bias": ("attn_output.bias", .view),
            "attn_norm/weight": ("attn_norm.weight", .view), "attn_norm/bias": ("attn_norm.bias", .view),
            "mlp/up/weight": ("ffn_up.weight", .view), "mlp/up/bias": ("ffn_up.bias", .view),
            "mlp/down/weight": ("ffn_down.weight", .view), "mlp/down/bias": ("ffn_down.bias", .view),
            "mlp_norm/weight": ("ffn_norm.weight", .view), "mlp_norm/bias": ("ffn_norm.bias", .view),
        ]
        return rows[parts.dropFirst(2).joined(separator: "/")].map { ("blk.\(layer)." + $0.0, $0.1) }
    }

    /// llama.cpp's GPT-2 keys; tied when `output.weight` is absent or a copy of the token embedding.
    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 1) }
        let D = try int("gpt2.embedding_length"), H = try int("gpt2.attention.head_count")
        guard D % H == 0 else { throw ImportError.configField(file: file.path, field: "gpt2.attention.head_count", reason: "does not divide gpt2.embedding_length") }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .gpt2, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("gpt2.block_count"), headCount: H,
            keyValueHeadCount: H, headDim: D / H, ffnDim: try int("gpt2.feed_forward_length", 4 * D),
            maxPositions: try int("gpt2.context_length", 1024), norm: .layernorm,
            normEpsilon: file["gpt2.attention.layer_norm_epsilon"]?.floatValue ?? 1e-5, normPlacement: .pre,
            activation: .geluTanh, positionEncoding: .learned)
        config.attentionBias = true
        config.mlpBias = true
        if file.tensorInfo("output.weight") == nil {
            config.tiedEmbeddings = true
        } else {
            config.tiedEmbeddings = try file.tensor("output.weight").hasSameBytes(as: file.tensor("token_embd.weight"))
        }
        return config
    }

    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] {
        [("gpt2.block_count", .uint32(UInt32(config.layerCount))),
         ("gpt2.context_length", .uint32(UInt32(config.maxPositions))),
         ("gpt2.embedding_length", .uint32(UInt32(config.modelDim))),
         ("gpt2.feed_forward_length", .uint32(UInt32(config.ffnDim))),
         ("gpt2.attention.head_count", .uint32(UInt32(config.headCount))),
         ("gpt2.attention.layer_norm_epsilon", .float32(Float(config.normEpsilon)))]
    }
}
