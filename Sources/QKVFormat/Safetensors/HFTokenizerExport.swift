/// The tokenizer and sentence-transformers files of a Hugging Face folder, from a model's canonical
/// tokenizer: what `HFTokenizerImport` reads, written back (Specs/architectures.md, "Tokenizers").
enum HFTokenizerExport {
    /// (file name relative to the folder, contents) for every file the tokenizer kind has a form for.
    /// SentencePiece-style tokenizers are left to the metadata qkv embeds: their scores have no place in
    /// Hugging Face's files.
    static func files(_ tokenizer: TokenizerData?, _ config: ModelConfig) -> [(name: String, text: String)] {
        var out: [(name: String, text: String)] = []
        func name(_ token: ModelConfig.SpecialToken) -> JSONValue? {
            guard let tokenizer, let id = config.specialTokens[token], id < tokenizer.tokens.count else { return nil }
            return .string(tokenizer.tokens[id])
        }
        func bool(_ key: String) -> Bool? { if case .bool(let b)? = tokenizer?.options[key] { b } else { nil } }
        func int(_ key: String) -> Int? { if case .int(let i)? = tokenizer?.options[key] { Int(i) } else { nil } }
        if let tokenizer {
            switch tokenizer.kind {
            case .wordpiece:
                out.append(("vocab.txt", tokenizer.tokens.map { $0 + "\n" }.joined()))
                var specials: [(key: String, value: JSONValue)] = []
                for (token, key) in [(ModelConfig.SpecialToken.unk, "unk_token"), (.sep, "sep_token"), (.pad, "pad_token"), (.cls, "cls_token"), (.mask, "mask_token")] {
                    if let value = name(token) { specials.append((key, value)) }
                }
                var settings: [(key: String, value: JSONValue)] = [("do_lower_case", .bool(bool("tokenizer.lowercase") ?? true))]
                settings += specials
                settings += [("tokenize_chinese_chars", .bool(bool("tokenizer.chinese_chars") ?? true)),
                             ("strip_accents", bool("tokenizer.strip_accents").map(JSONValue.bool) ?? .null),
                             ("tokenizer_class", .string("BertTokenizer"))]
                if let n = int("tokenizer.max_length") { settings.append(("model_max_length", .number("\(n)"))) }
                out.append(("tokenizer_config.json", JSONValue.object(settings).text + "\n"))
                out.append(("special_tokens_map.json", JSONValue.object(specials).text + "\n"))
            case .bpe:
                out.append(("vocab.json", JSONValue.object(tokenizer.tokens.enumerated().map { ($1, .number("\($0)")) }).text))
                out.append(("merges.txt", "#version: 0.2\n" + (tokenizer.merges ?? []).map { $0 + "\n" }.joined()))
                var settings: [(key: String, value: JSONValue)] = [("add_prefix_space", .bool(bool("tokenizer.add_prefix_space") ?? false))]
                for (token, key) in [(ModelConfig.SpecialToken.bos, "bos_token"), (.eos, "eos_token"), (.unk, "unk_token")] {
                    if let value = name(token) { settings.append((key, value)) }
                }
                settings.append(("tokenizer_class", .string("GPT2Tokenizer")))
                out.append(("tokenizer_config.json", JSONValue.object(settings).text + "\n"))
            case .sentencepieceBPE:
                break
            }
        }
        // sentence-transformers: the modules, pooling and maximum length.
        if config.family == .bert, let pooling = config.pooling {
            var modules: [JSONValue] = [
                .object([("idx", .number("0")), ("name", .string("0")), ("path", .string("")), ("type", .string("sentence_transformers.models.Transformer"))]),
                .object([("idx", .number("1")), ("name", .string("1")), ("path", .string("1_Pooling")), ("type", .string("sentence_transformers.models.Pooling"))]),
            ]
            if config.normalize {
                modules.append(.object([("idx", .number("2")), ("name", .string("2")), ("path", .string("2_Normalize")), ("type", .string("sentence_transformers.models.Normalize"))]))
            }
            out.append(("modules.json", JSONValue.array(modules).text + "\n"))
            let modes: [(String, ModelConfig.Pooling)] = [("pooling_mode_cls_token", .cls), ("pooling_mode_mean_tokens", .mean),
                                                          ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLen)]
            let poolingConfig: [(key: String, value: JSONValue)] = [("word_embedding_dimension", .number("\(config.modelDim)"))]
                + modes.map { ($0.0, .bool($0.1 == pooling)) }
            out.append(("1_Pooling/config.json", JSONValue.object(poolingConfig).text + "\n"))
            if let n = int("tokenizer.max_length") {
                out.append(("sentence_bert_config.json", JSONValue.object([("max_seq_length", .number("\(n)")), ("do_lower_case", .bool(false))]).text + "\n"))
            }
        }
        return out
    }
}
