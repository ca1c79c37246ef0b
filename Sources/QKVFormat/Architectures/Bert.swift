/// BERT encoders (Hugging Face `bert`, sentence-transformers folders; GGUF `bert`): post-norm LayerNorm,
/// learned positions, token types, exact GELU, biases everywhere.
enum Bert: Architecture {
    static let name = "bert"
    static let hfModelTypes = ["bert"]
    static let ggufArchitectures = ["bert"]

    static func canHold(_ config: ModelConfig) -> Bool { config.family == .bert && config.positionOffset == 0 && !config.usesNewerSteps }

    // MARK: Hugging Face

    static func hfMap(_ config: ModelConfig) -> ArchitectureMap {
        guard config.labelCount > 0 else { return table }
        var map = table
        map.rows += [ArchitectureMap.Row("classifier/weight", "classifier.weight"), ArchitectureMap.Row("classifier/bias", "classifier.bias")]
        return map
    }

    /// The classification head of a `*ForSequenceClassification` config.json: as many outputs as
    /// `id2label` names (transformers' `num_labels`), else `num_labels`; 0 for every other class. Its
    /// activation is CrossEncoder's default (sigmoid for one label, none for more) until the
    /// sentence-transformers config says otherwise.
    static func sequenceClassification(_ json: JSONValue, file: String, into config: inout ModelConfig) throws {
        guard let first = json["architectures"]?.arrayValue?.first?.stringValue, first.hasSuffix("ForSequenceClassification") else { return }
        let count = try json["id2label"]?.objectValue?.count ?? HFConfigReader(json: json, file: file).int("num_labels", default: 2)
        guard count > 0 else { throw ImportError.configField(file: file, field: "id2label", reason: "names no labels") }
        config.labelCount = count
        config.labelActivation = count == 1 ? .sigmoid : .identity
    }

    /// `architectures` and the label maps transformers reads the head's size from.
    static func hfHeadConfig(_ config: ModelConfig, base: String, classification: String) -> [(key: String, value: JSONValue)] {
        guard config.labelCount > 0 else { return [("architectures", .array([.string(base)]))] }
        let labels = (0..<config.labelCount).map { ("\($0)", JSONValue.string("LABEL_\($0)")) }
        return [("architectures", .array([.string(classification)])), ("id2label", .object(labels)),
                ("label2id", .object(labels.map { ($0.1.stringValue!, JSONValue.int(Int(String($0.0))!)) }))]
    }

    static let table = ArchitectureMap(
        family: .bert, prefixes: ["bert."], buffers: ["embeddings.position_ids"],
        rows: [
            ArchitectureMap.Row("embed/token/weight", "embeddings.word_embeddings.weight"),
            ArchitectureMap.Row("embed/position/weight", "embeddings.position_embeddings.weight"),
            ArchitectureMap.Row("embed/token_type/weight", "embeddings.token_type_embeddings.weight"),
            ArchitectureMap.Row("embed/norm/weight", "embeddings.LayerNorm.weight"),
            ArchitectureMap.Row("embed/norm/bias", "embeddings.LayerNorm.bias"),
            ArchitectureMap.Row("layers/{i}/attn/q/weight", "encoder.layer.{i}.attention.self.query.weight"),
            ArchitectureMap.Row("layers/{i}/attn/q/bias", "encoder.layer.{i}.attention.self.query.bias"),
            ArchitectureMap.Row("layers/{i}/attn/k/weight", "encoder.layer.{i}.attention.self.key.weight"),
            ArchitectureMap.Row("layers/{i}/attn/k/bias", "encoder.layer.{i}.attention.self.key.bias"),
            ArchitectureMap.Row("layers/{i}/attn/v/weight", "encoder.layer.{i}.attention.self.value.weight"),
            ArchitectureMap.Row("layers/{i}/attn/v/bias", "encoder.layer.{i}.attention.self.value.bias"),
            ArchitectureMap.Row("layers/{i}/attn/o/weight", "encoder.layer.{i}.attention.output.dense.weight", .transpose),
            ArchitectureMap.Row("layers/{i}/attn/o/bias", "encoder.layer.{i}.attention.output.dense.bias"),
            ArchitectureMap.Row("layers/{i}/attn_norm/weight", "encoder.layer.{i}.attention.output.LayerNorm.weight"),
            ArchitectureMap.Row("layers/{i}/attn_norm/bias", "encoder.layer.{i}.attention.output.LayerNorm.bias"),
            ArchitectureMap.Row("layers/{i}/mlp/up/weight", "encoder.layer.{i}.intermediate.dense.weight"),
            ArchitectureMap.Row("layers/{i}/mlp/up/bias", "encoder.layer.{i}.intermediate.dense.bias"),
            ArchitectureMap.Row("layers/{i}/mlp/down/weight", "encoder.layer.{i}.output.dense.weight"),
            ArchitectureMap.Row("layers/{i}/mlp/down/bias", "encoder.layer.{i}.output.dense.bias"),
            ArchitectureMap.Row("layers/{i}/mlp_norm/weight", "encoder.layer.{i}.output.LayerNorm.weight"),
            ArchitectureMap.Row("layers/{i}/mlp_norm/bias", "encoder.layer.{i}.output.LayerNorm.bias"),
            ArchitectureMap.Row("pooler/weight", "pooler.dense.weight"),
            ArchitectureMap.Row("pooler/bias", "pooler.dense.bias"),
        ]
    )


    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        let fields = HFConfigReader(json: json, file: file)
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
        try sequenceClassification(json, file: file, into: &config)
        return config
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        var members = hfHeadConfig(config, base: "BertModel", classification: "BertForSequenceClassification")
        members += [
            ("model_type", .string("bert")),
            ("hidden_size", .int(config.modelDim)), ("num_hidden_layers", .int(config.layerCount)),
            ("num_attention_heads", .int(config.headCount)), ("intermediate_size", .int(config.ffnDim)),
            ("hidden_act", .string(config.activation.hfName)), ("max_position_embeddings", .int(config.maxPositions)),
            ("type_vocab_size", .int(config.typeVocabSize)), ("layer_norm_eps", .double(config.normEpsilon)),
            ("vocab_size", .int(config.vocabSize)), ("position_embedding_type", .string("absolute"))]
        if let pad = config.specialTokens[.pad] { members.append(("pad_token_id", .int(pad))) }
        return members
    }

    // MARK: GGUF

    /// llama.cpp's BERT (`convert_hf_to_gguf.py` BertModel): Linear weights as they are, O transposed
    /// like LLaMA's, no pooler (llama.cpp has none and refuses extra tensors) except as a classification
    /// head's dense layer: RoBERTa's head, `cls` (tanh) then `cls.output`, as llama.cpp's rank pooling
    /// computes it.
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        let top: [String: String] = [
            "embed/token/weight": "token_embd.weight", "embed/position/weight": "position_embd.weight",
            "embed/token_type/weight": "token_types.weight", "embed/norm/weight": "token_embd_norm.weight",
            "embed/norm/bias": "token_embd_norm.bias",
        ]
        if let found = top[name] { return (found, .view) }
        let head: [String: String] = [
            "pooler/weight": "cls.weight", "pooler/bias": "cls.bias",
            "classifier/weight": "cls.output.weight", "classifier/bias": "cls.output.bias",
        ]
        if config.labelCount > 0, let found = head[name] { return (found, .view) }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let blk = "blk.\(layer)."
        let rows: [String: (String, TensorTransform)] = [
            "attn/q/weight": ("attn_q.weight", .view), "attn/q/bias": ("attn_q.bias", .view),
            "attn/k/weight": ("attn_k.weight", .view), "attn/k/bias": ("attn_k.bias", .view),
            "attn/v/weight": ("attn_v.weight", .view), "attn/v/bias": ("attn_v.bias", .view),
            "attn/o/weight": ("attn_output.weight", .transpose), "attn/o/bias": ("attn_output.bias", .view),
            "attn_norm/weight": ("attn_output_norm.weight", .view), "attn_norm/bias": ("attn_output_norm.bias", .view),
            "mlp/up/weight": ("ffn_up.weight", .view), "mlp/up/bias": ("ffn_up.bias", .view),
            "mlp/down/weight": ("ffn_down.weight", .view), "mlp/down/bias": ("ffn_down.bias", .view),
            "mlp_norm/weight": ("layer_output_norm.weight", .view), "mlp_norm/bias": ("layer_output_norm.bias", .view),
        ]
        return rows[parts.dropFirst(2).joined(separator: "/")].map { (blk + $0.0, $0.1) }
    }

    /// llama.cpp's BERT keys. GGUF does not record the activation (BERT's is exact GELU) or whether
    /// embeddings are normalised; `bert.pooling_type` 1 is mean, 2 CLS.
    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 0) }
        let D = try int("bert.embedding_length"), H = try int("bert.attention.head_count")
        guard H > 0, D % H == 0 else { throw ImportError.configField(file: file.path, field: "bert.attention.head_count", reason: "does not divide bert.embedding_length") }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        let epsilon = file["bert.attention.layer_norm_epsilon"]?.floatValue ?? 1e-12
        var config = ModelConfig(
            family: .bert, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("bert.block_count"), headCount: H,
            keyValueHeadCount: H, headDim: D / H, ffnDim: try int("bert.feed_forward_length"),
            maxPositions: try int("bert.context_length", 512), norm: .layernorm, normEpsilon: epsilon, normPlacement: .post,
            activation: .geluErf, positionEncoding: .learned)
        config.typeVocabSize = file.tensorInfo("token_types.weight")?.dims.last ?? 0
        // A reranker's head (`cls.output`, [D, labels]); the activation is CrossEncoder's default, as for
        // a Hugging Face folder that names none (GGUF records none; llama.cpp returns the raw score).
        if let head = file.tensorInfo("cls.output.weight"), head.dims.count == 2, head.dims[1] > 0 {
            config.labelCount = head.dims[1]
            config.labelActivation = head.dims[1] == 1 ? .sigmoid : .identity
        }
        config.embeddingNorm = true
        config.attentionBias = true
        config.mlpBias = true
        switch try int("bert.pooling_type", 0) {
        case 1: config.pooling = .mean
        case 2: config.pooling = .cls
        default: break
        }
        return config
    }

    /// A head is written as `cls` + `cls.output` (the export refuses one from a BertForSequenceClassification
    /// checkpoint, which llama.cpp's converter writes differently).
    static func ggufProblem(_ config: ModelConfig) -> String? { nil }

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
        // The head's label names, which qkv keeps as transformers' defaults; the converter leaves out
        // two default labels (AutoConfig's placeholder).
        if config.labelCount > 0, config.labelCount != 2 {
            keys.append(("bert.classifier.output_labels", .array(.string((0..<config.labelCount).map { "LABEL_\($0)" }))))
        }
        return keys
    }
}
