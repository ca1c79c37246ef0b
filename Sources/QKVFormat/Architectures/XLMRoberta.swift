/// XLM-RoBERTa encoders (Hugging Face `xlm-roberta`, `roberta`: multilingual-e5, bge-m3,
/// paraphrase-multilingual, bge-reranker): BERT's computation with position ids that start at
/// `pad_token_id + 1` (`config.position_offset`), one token type, and RoBERTa's classification head.
enum XLMRoberta: Architecture {
    static let name = "xlm-roberta"
    static let hfModelTypes = ["xlm-roberta", "roberta"]
    /// llama.cpp writes XLM-R as `bert` with its position table cut to start at 0 (so does a GGUF export);
    /// qkv's other formats keep the table whole.
    static let ggufArchitectures = ["xlm-roberta"]

    static func canHold(_ config: ModelConfig) -> Bool {
        config.family == .bert && config.positionOffset > 0 && !config.usesNewerSteps
    }

    // MARK: Hugging Face

    /// BERT's table under `roberta.`; the classification head's dense layer is the schema's pooler (the
    /// same tanh(W h_[CLS] + b)), its `out_proj` the classifier.
    static func hfMap(_ config: ModelConfig) -> ArchitectureMap {
        var map = Bert.table
        map.prefixes = ["roberta."]
        if config.labelCount > 0 {
            map.rows.removeAll { $0.canonical.hasPrefix("pooler/") }
            map.rows += [
                ArchitectureMap.Row("pooler/weight", "classifier.dense.weight"),
                ArchitectureMap.Row("pooler/bias", "classifier.dense.bias"),
                ArchitectureMap.Row("classifier/weight", "classifier.out_proj.weight"),
                ArchitectureMap.Row("classifier/bias", "classifier.out_proj.bias"),
            ]
        }
        return map
    }

    /// BERT's keys; positions offset by `pad_token_id + 1` (transformers' `create_position_ids_from_input_ids`),
    /// so the usable positions are `max_position_embeddings - pad_token_id - 1`.
    static func config(hf json: JSONValue, file: String) throws -> ModelConfig {
        var config = try Bert.config(hf: json, file: file)
        let fields = HFConfigReader(json: json, file: file)
        let pad = try fields.int("pad_token_id", default: 1)
        guard pad >= 0, pad + 1 < config.maxPositions else {
            throw ImportError.configField(file: file, field: "pad_token_id", reason: "(\(pad)) leaves no positions below max_position_embeddings (\(config.maxPositions))")
        }
        config.positionOffset = pad + 1
        config.maxPositions -= pad + 1
        config.specialTokens[.pad] = pad
        return config
    }

    static func hfConfig(_ config: ModelConfig) -> [(key: String, value: JSONValue)] {
        var members = Bert.hfConfig(config)
        for i in members.indices {
            switch members[i].key {
            case "architectures":
                members[i].value = .array([.string(config.labelCount > 0 ? "XLMRobertaForSequenceClassification" : "XLMRobertaModel")])
            case "model_type": members[i].value = .string("xlm-roberta")
            case "max_position_embeddings": members[i].value = .int(config.maxPositions + config.positionOffset)
            default: break
            }
        }
        members.removeAll { $0.key == "pad_token_id" }
        members.append(("pad_token_id", .int(config.positionOffset - 1)))
        return members
    }

    // MARK: GGUF

    /// llama.cpp's XLM-R is `bert` with the first `pad_token_id + 1` position rows dropped (its converter's
    /// `XLMRobertaModel`): BERT's names; the export cuts the rows (`GGUFExportWriter`) and an import reads
    /// such a file as BERT with positions from 0, the same computation.
    static func ggufSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        Bert.ggufSource(for: name, config: config)
    }

    static func config(gguf file: GGUFFile) throws -> ModelConfig {
        throw ImportError.configField(file: file.path, field: "general.architecture", reason: "xlm-roberta is not a llama.cpp architecture (llama.cpp writes XLM-R as bert)")
    }

    /// BERT's keys; `bert.context_length` is the usable positions, as llama.cpp's converter writes it.
    static func ggufKeys(_ config: ModelConfig) -> [(String, GGUFValue)] { Bert.ggufKeys(config) }

    /// XLMRobertaForSequenceClassification's head is llama.cpp's `cls` + `cls.output`: nothing refused.
    static func ggufProblem(_ config: ModelConfig) -> String? { nil }
}
