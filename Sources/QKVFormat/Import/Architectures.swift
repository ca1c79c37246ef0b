/// The architecture maps of Specs/architectures.md as data: for each family, which source tensor (Hugging
/// Face name, prefix removed) each canonical tensor comes from and how, and how `config.json` becomes a
/// `ModelConfig`.
struct ArchitectureMap: Sendable {
    /// One table row; `{i}` stands for the layer index in both names.
    struct Row: Sendable {
        var canonical: String
        var source: String
        var transform: TensorTransform = .view
        init(_ canonical: String, _ source: String, _ transform: TensorTransform = .view) {
            self.canonical = canonical
            self.source = source
            self.transform = transform
        }
    }

    var family: ModelConfig.Family
    /// Prefixes transformers puts before the names (model classes with heads): removed when present.
    var prefixes: [String]
    /// Source tensors that are buffers, not weights; dropped (names after prefix removal, `{i}` allowed).
    var buffers: [String]
    var rows: [Row]

    /// The row for canonical tensor `name`, with `{i}` filled in.
    func row(for name: String) -> Row? {
        for row in rows {
            if row.canonical == name { return row }
            guard row.canonical.contains("{i}") else { continue }
            let parts = row.canonical.components(separatedBy: "{i}")
            guard name.hasPrefix(parts[0]), name.hasSuffix(parts[1]) else { continue }
            let index = name.dropFirst(parts[0].count).dropLast(parts[1].count)
            guard !index.isEmpty, index.allSatisfy(\.isNumber) else { continue }
            return Row(name, row.source.replacingOccurrences(of: "{i}", with: String(index)), row.transform)
        }
        return nil
    }

    /// Whether `name` (prefix removed) is a buffer to drop.
    func isBuffer(_ name: String) -> Bool {
        buffers.contains { pattern in
            let parts = pattern.components(separatedBy: "{i}")
            if parts.count == 1 { return name == pattern }
            guard name.hasPrefix(parts[0]), name.hasSuffix(parts[1]) else { return false }
            return name.dropFirst(parts[0].count).dropLast(parts[1].count).allSatisfy(\.isNumber)
        }
    }

    func strippingPrefix(_ name: String) -> String {
        for prefix in prefixes where name.hasPrefix(prefix) { return String(name.dropFirst(prefix.count)) }
        return name
    }

    // MARK: The tables

    static let bert = ArchitectureMap(
        family: .bert, prefixes: ["bert."], buffers: ["embeddings.position_ids"],
        rows: [
            Row("embed/token/weight", "embeddings.word_embeddings.weight"),
            Row("embed/position/weight", "embeddings.position_embeddings.weight"),
            Row("embed/token_type/weight", "embeddings.token_type_embeddings.weight"),
            Row("embed/norm/weight", "embeddings.LayerNorm.weight"),
            Row("embed/norm/bias", "embeddings.LayerNorm.bias"),
            Row("layers/{i}/attn/q/weight", "encoder.layer.{i}.attention.self.query.weight"),
            Row("layers/{i}/attn/q/bias", "encoder.layer.{i}.attention.self.query.bias"),
            Row("layers/{i}/attn/k/weight", "encoder.layer.{i}.attention.self.key.weight"),
            Row("layers/{i}/attn/k/bias", "encoder.layer.{i}.attention.self.key.bias"),
            Row("layers/{i}/attn/v/weight", "encoder.layer.{i}.attention.self.value.weight"),
            Row("layers/{i}/attn/v/bias", "encoder.layer.{i}.attention.self.value.bias"),
            Row("layers/{i}/attn/o/weight", "encoder.layer.{i}.attention.output.dense.weight", .transpose),
            Row("layers/{i}/attn/o/bias", "encoder.layer.{i}.attention.output.dense.bias"),
            Row("layers/{i}/attn_norm/weight", "encoder.layer.{i}.attention.output.LayerNorm.weight"),
            Row("layers/{i}/attn_norm/bias", "encoder.layer.{i}.attention.output.LayerNorm.bias"),
            Row("layers/{i}/mlp/up/weight", "encoder.layer.{i}.intermediate.dense.weight"),
            Row("layers/{i}/mlp/up/bias", "encoder.layer.{i}.intermediate.dense.bias"),
            Row("layers/{i}/mlp/down/weight", "encoder.layer.{i}.output.dense.weight"),
            Row("layers/{i}/mlp/down/bias", "encoder.layer.{i}.output.dense.bias"),
            Row("layers/{i}/mlp_norm/weight", "encoder.layer.{i}.output.LayerNorm.weight"),
            Row("layers/{i}/mlp_norm/bias", "encoder.layer.{i}.output.LayerNorm.bias"),
            Row("pooler/weight", "pooler.dense.weight"),
            Row("pooler/bias", "pooler.dense.bias"),
        ]
    )

    static let gpt2 = ArchitectureMap(
        family: .gpt2, prefixes: ["transformer."], buffers: ["h.{i}.attn.bias", "h.{i}.attn.masked_bias"],
        rows: [
            Row("embed/token/weight", "wte.weight"),
            Row("embed/position/weight", "wpe.weight"),
            Row("layers/{i}/attn/q/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 0)),
            Row("layers/{i}/attn/q/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 0)),
            Row("layers/{i}/attn/k/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 1)),
            Row("layers/{i}/attn/k/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 1)),
            Row("layers/{i}/attn/v/weight", "h.{i}.attn.c_attn.weight", .fusedColumns(part: 2)),
            Row("layers/{i}/attn/v/bias", "h.{i}.attn.c_attn.bias", .fusedSlice(part: 2)),
            Row("layers/{i}/attn/o/weight", "h.{i}.attn.c_proj.weight"),
            Row("layers/{i}/attn/o/bias", "h.{i}.attn.c_proj.bias"),
            Row("layers/{i}/attn_norm/weight", "h.{i}.ln_1.weight"),
            Row("layers/{i}/attn_norm/bias", "h.{i}.ln_1.bias"),
            Row("layers/{i}/mlp/up/weight", "h.{i}.mlp.c_fc.weight", .transpose),
            Row("layers/{i}/mlp/up/bias", "h.{i}.mlp.c_fc.bias"),
            Row("layers/{i}/mlp/down/weight", "h.{i}.mlp.c_proj.weight", .transpose),
            Row("layers/{i}/mlp/down/bias", "h.{i}.mlp.c_proj.bias"),
            Row("layers/{i}/mlp_norm/weight", "h.{i}.ln_2.weight"),
            Row("layers/{i}/mlp_norm/bias", "h.{i}.ln_2.bias"),
            Row("final_norm/weight", "ln_f.weight"),
            Row("final_norm/bias", "ln_f.bias"),
            Row("lm_head/weight", "lm_head.weight"),
        ]
    )

    static let llama = ArchitectureMap(
        family: .llama, prefixes: ["model."], buffers: ["layers.{i}.self_attn.rotary_emb.inv_freq"],
        rows: [
            Row("embed/token/weight", "embed_tokens.weight"),
            Row("layers/{i}/attn/q/weight", "layers.{i}.self_attn.q_proj.weight"),
            Row("layers/{i}/attn/k/weight", "layers.{i}.self_attn.k_proj.weight"),
            Row("layers/{i}/attn/v/weight", "layers.{i}.self_attn.v_proj.weight"),
            Row("layers/{i}/attn/o/weight", "layers.{i}.self_attn.o_proj.weight", .transpose),
            Row("layers/{i}/attn_norm/weight", "layers.{i}.input_layernorm.weight"),
            Row("layers/{i}/mlp/gate/weight", "layers.{i}.mlp.gate_proj.weight"),
            Row("layers/{i}/mlp/up/weight", "layers.{i}.mlp.up_proj.weight"),
            Row("layers/{i}/mlp/down/weight", "layers.{i}.mlp.down_proj.weight"),
            Row("layers/{i}/mlp_norm/weight", "layers.{i}.post_attention_layernorm.weight"),
            Row("final_norm/weight", "norm.weight"),
            Row("lm_head/weight", "lm_head.weight"),
        ]
    )

    // MARK: config.json

    /// The model config from Hugging Face's `config.json`.
    func config(from json: JSONValue, file: String) throws -> ModelConfig {
        let fields = HFConfigReader(json: json, file: file)
        switch family {
        case .bert:
            let D = try fields.int("hidden_size"), H = try fields.int("num_attention_heads")
            guard D % H == 0 else { throw ImportError.configField(file: file, field: "hidden_size", reason: "(\(D)) is not a multiple of num_attention_heads (\(H))") }
            var config = ModelConfig(
                family: .bert, vocabSize: try fields.int("vocab_size"), modelDim: D, layerCount: try fields.int("num_hidden_layers"),
                headCount: H, keyValueHeadCount: H, headDim: D / H, ffnDim: try fields.int("intermediate_size"),
                maxPositions: try fields.int("max_position_embeddings"), norm: .layernorm,
                normEpsilon: try fields.double("layer_norm_eps", default: 1e-12), normPlacement: .post,
                activation: try fields.activation("hidden_act", default: "gelu"), positionEncoding: .learned)
            if let type = try fields.optionalString("position_embedding_type"), type != "absolute" {
                throw ImportError.configField(file: file, field: "position_embedding_type", reason: "is \"\(type)\"; only \"absolute\" is supported")
            }
            config.typeVocabSize = try fields.int("type_vocab_size", default: 2)
            config.embeddingNorm = true
            config.attentionBias = true
            config.mlpBias = true
            if let pad = try fields.optionalInt("pad_token_id") { config.specialTokens[.pad] = pad }
            return config
        case .gpt2:
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
        case .llama:
            let D = try fields.int("hidden_size"), H = try fields.int("num_attention_heads")
            var config = ModelConfig(
                family: .llama, vocabSize: try fields.int("vocab_size"), modelDim: D, layerCount: try fields.int("num_hidden_layers"),
                headCount: H, keyValueHeadCount: try fields.int("num_key_value_heads", default: H),
                headDim: try fields.optionalInt("head_dim") ?? D / H, ffnDim: try fields.int("intermediate_size"),
                maxPositions: try fields.int("max_position_embeddings", default: 2048), norm: .rmsnorm,
                normEpsilon: try fields.double("rms_norm_eps", default: 1e-6), normPlacement: .pre,
                activation: try fields.activation("hidden_act", default: "silu"), positionEncoding: .rope)
            config.rope = .init(theta: try fields.double("rope_theta", default: 10000), layout: .half)
            // transformers 5 writes the RoPE settings as `rope_parameters: {rope_type, rope_theta, ...}`.
            var scaling = json["rope_scaling"], scalingField = "rope_scaling"
            var theta = try fields.double("rope_theta", default: 10000)
            if let parameters = json["rope_parameters"], parameters != .null {
                theta = try HFConfigReader(json: parameters, file: file).double("rope_theta", default: theta)
                scaling = parameters
                scalingField = "rope_parameters"
            }
            let factors = try RopeScaling.factors(scaling, field: scalingField, file: file, theta: theta, dims: config.headDim)
            config.rope = .init(theta: theta, layout: .half, frequencyFactors: factors)
            config.gatedMLP = true
            config.tiedEmbeddings = try fields.bool("tie_word_embeddings", default: false)
            config.attentionBias = try fields.bool("attention_bias", default: false)
            config.mlpBias = try fields.bool("mlp_bias", default: false)
            if config.attentionBias || config.mlpBias {
                throw ImportError.configField(file: file, field: config.attentionBias ? "attention_bias" : "mlp_bias", reason: "is true; LLaMA maps without biases only")
            }
            if let bos = try fields.optionalInt("bos_token_id") { config.specialTokens[.bos] = bos }
            if let eos = try fields.optionalInt("eos_token_id") { config.specialTokens[.eos] = eos }
            return config
        }
    }
}

/// Typed reads of `config.json` fields that name the field in errors.
struct HFConfigReader {
    let json: JSONValue
    let file: String

    func int(_ field: String, default fallback: Int? = nil) throws -> Int {
        if let v = try optionalInt(field) { return v }
        if let fallback { return fallback }
        throw ImportError.configField(file: file, field: field, reason: "is required but missing")
    }

    func optionalInt(_ field: String) throws -> Int? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.int64Value, let i = Int(exactly: v) else {
            throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected an integer")
        }
        return i
    }

    func double(_ field: String, default fallback: Double) throws -> Double {
        guard let value = json[field], value != .null else { return fallback }
        guard let v = value.doubleValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a number") }
        return v
    }

    func bool(_ field: String, default fallback: Bool) throws -> Bool {
        guard let value = json[field], value != .null else { return fallback }
        guard let v = value.boolValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected true or false") }
        return v
    }

    func optionalDouble(_ field: String) throws -> Double? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.doubleValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a number") }
        return v
    }

    func optionalString(_ field: String) throws -> String? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.stringValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a string") }
        return v
    }

    /// Hugging Face activation names to the schema's.
    func activation(_ field: String, default fallback: String) throws -> ModelConfig.Activation {
        let name = try optionalString(field) ?? fallback
        switch name {
        case "gelu": return .geluErf
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        case "silu", "swish": return .silu
        default: throw ImportError.configField(file: file, field: field, reason: "is \"\(name)\"; supported are gelu, gelu_new, gelu_pytorch_tanh, silu")
        }
    }
}
