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
                if case .string(let template)? = tokenizer.options["tokenizer.chat_template"] { settings.append(("chat_template", .string(template))) }
                out.append(("tokenizer_config.json", JSONValue.object(settings).text + "\n"))
                out.append(("special_tokens_map.json", JSONValue.object(specials).text + "\n"))
            case .bpe:
                out.append(("vocab.json", JSONValue.object(tokenizer.tokens.enumerated().map { ($1, .number("\($0)")) }).text))
                out.append(("merges.txt", "#version: 0.2\n" + (tokenizer.merges ?? []).map { $0 + "\n" }.joined()))
                var settings: [(key: String, value: JSONValue)] = [("add_prefix_space", .bool(bool("tokenizer.add_prefix_space") ?? false))]
                let roberta = tokenizer.options["tokenizer.pair_template"] == .string("roberta")
                for (token, key) in [(ModelConfig.SpecialToken.bos, "bos_token"), (.eos, "eos_token"), (.unk, "unk_token")] {
                    if let value = name(token) { settings.append((key, value)) }
                }
                // RoBERTa's: `<s>` and `</s>` are also its cls and sep (tokenizers' RobertaProcessing).
                if roberta {
                    for (token, key) in [(ModelConfig.SpecialToken.pad, "pad_token"), (.mask, "mask_token"), (.bos, "cls_token"), (.eos, "sep_token")] {
                        if let value = name(token) { settings.append((key, value)) }
                    }
                    if let n = int("tokenizer.max_length") { settings.append(("model_max_length", .number("\(n)"))) }
                }
                // A split, normalization or whole-word rule GPT-2's files cannot say goes in a tokenizer.json,
                // which transformers reads before vocab.json and merges.txt; so does RoBERTa's pair template.
                let beyondGPT2 = ["tokenizer.pre_split", "tokenizer.normalization", "tokenizer.ignore_merges", "tokenizer.lstrip_ids", "tokenizer.rstrip_ids",
                                  "tokenizer.pair_template"]
                if beyondGPT2.contains(where: { tokenizer.options[$0] != nil }) {
                    out.append(("tokenizer.json", byteLevelTokenizerJSON(tokenizer, config).text + "\n"))
                    settings.append(("tokenizer_class", .string(roberta ? "RobertaTokenizer" : "PreTrainedTokenizerFast")))
                } else {
                    settings.append(("tokenizer_class", .string("GPT2Tokenizer")))
                }
                if case .string(let template)? = tokenizer.options["tokenizer.chat_template"] { settings.append(("chat_template", .string(template))) }
                out.append(("tokenizer_config.json", JSONValue.object(settings).text + "\n"))
            case .sentencepieceBPE:
                break
            case .unigram:
                out.append(("tokenizer.json", unigramTokenizerJSON(tokenizer, config).text + "\n"))
                var settings: [(key: String, value: JSONValue)] = []
                for (token, key) in [(ModelConfig.SpecialToken.bos, "bos_token"), (.eos, "eos_token"), (.unk, "unk_token"), (.pad, "pad_token"),
                                     (.mask, "mask_token"), (.cls, "cls_token"), (.sep, "sep_token")] {
                    if let value = name(token) { settings.append((key, value)) }
                }
                settings.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
                if let n = int("tokenizer.max_length") { settings.append(("model_max_length", .number("\(n)"))) }
                if case .string(let template)? = tokenizer.options["tokenizer.chat_template"] { settings.append(("chat_template", .string(template))) }
                out.append(("tokenizer_config.json", JSONValue.object(settings).text + "\n"))
            }
        }
        // A CrossEncoder's activation, which it reads from config_sentence_transformers.json.
        if config.labelCount > 0, let activation = config.labelActivation {
            out.append(("config_sentence_transformers.json", JSONValue.object([
                ("model_type", .string("CrossEncoder")), ("activation_fn", .string(torchClass(activation))),
            ]).text + "\n"))
        }
        // sentence-transformers: the modules (Pooling, each Dense, Normalize), pooling, maximum length, prompts.
        if config.family == .bert, config.pooling != nil || !config.dense.isEmpty {
            let pooling = config.pooling ?? .mean
            func module(_ idx: Int, _ path: String, _ type: String) -> JSONValue {
                .object([("idx", .number("\(idx)")), ("name", .string("\(idx)")), ("path", .string(path)), ("type", .string("sentence_transformers.models.\(type)"))])
            }
            var modules = [module(0, "", "Transformer"), module(1, "1_Pooling", "Pooling")]
            var width = config.modelDim
            for (j, dense) in config.dense.enumerated() {
                modules.append(module(2 + j, denseFolder(j), "Dense"))
                let activation = torchClass(dense.activation)
                out.append(("\(denseFolder(j))/config.json", JSONValue.object([
                    ("in_features", .number("\(width)")), ("out_features", .number("\(dense.outputs)")), ("bias", .bool(dense.bias)),
                    ("activation_function", .string(activation)),
                ]).text + "\n"))
                width = dense.outputs
            }
            if config.normalize {
                let idx = 2 + config.dense.count
                modules.append(module(idx, "\(idx)_Normalize", "Normalize"))
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
            if let tokenizer, !tokenizer.prompts.isEmpty || tokenizer.defaultPromptName != nil {
                out.append(("config_sentence_transformers.json", JSONValue.object([
                    ("prompts", .object(tokenizer.prompts.map { ($0.name, .string($0.text)) })),
                    ("default_prompt_name", tokenizer.defaultPromptName.map(JSONValue.string) ?? .null),
                ]).text + "\n"))
            }
        }
        return out
    }

    /// PyTorch's class path of an activation, as sentence-transformers writes it.
    static func torchClass(_ activation: ModelConfig.Dense.Activation) -> String {
        switch activation {
        case .identity: "torch.nn.modules.linear.Identity"
        case .tanh: "torch.nn.modules.activation.Tanh"
        case .relu: "torch.nn.modules.activation.ReLU"
        case .geluErf: "torch.nn.modules.activation.GELU"
        case .sigmoid: "torch.nn.modules.activation.Sigmoid"
        case .silu: "torch.nn.modules.activation.SiLU"
        }
    }

    /// The folder of Dense module `j` in a sentence-transformers layout (`2_Dense` for the first, after
    /// Transformer and Pooling).
    static func denseFolder(_ j: Int) -> String { "\(2 + j)_Dense" }

    /// The added tokens of a tokenizer.json: token types 3 (control) and 4 (user-defined), and with
    /// `configSpecials` the config's special ids, none normalized, with their lstrip/rstrip flags. A
    /// Unigram tokenizer adds only what its types say (its unknown token may be plain vocabulary).
    static func addedTokensJSON(_ tokenizer: TokenizerData, _ config: ModelConfig, configSpecials: Bool = true) -> [JSONValue] {
        func ids(_ key: String) -> Set<Int> { if case .int32Array(let v)? = tokenizer.options[key] { Set(v.map(Int.init)) } else { [] } }
        let lstrip = ids("tokenizer.lstrip_ids"), rstrip = ids("tokenizer.rstrip_ids")
        let special = configSpecials ? Set(config.specialTokens.values) : []
        var added: [JSONValue] = []
        for (id, type) in (tokenizer.tokenTypes ?? []).enumerated() where type == 3 || type == 4 || special.contains(id) {
            added.append(.object([("id", .number("\(id)")), ("content", .string(tokenizer.tokens[id])), ("single_word", .bool(false)),
                                  ("lstrip", .bool(lstrip.contains(id))), ("rstrip", .bool(rstrip.contains(id))),
                                  ("normalized", .bool(false)), ("special", .bool(type != 4))]))
        }
        return added
    }

    /// The post-processor that adds BOS/EOS as `tokenizer.add_bos`/`add_eos` say; pairs as XLM-R's
    /// `<s> A </s> </s> B </s>` when `roberta_pair`, else the single template twice.
    static func templateJSON(_ tokenizer: TokenizerData, _ config: ModelConfig, robertaPair: Bool) -> JSONValue {
        func bool(_ key: String) -> Bool { if case .bool(let b)? = tokenizer.options[key] { b } else { false } }
        func number(_ n: Int) -> JSONValue { .number("\(n)") }
        func sequence(_ name: String) -> JSONValue { .object([("Sequence", .object([("id", .string(name)), ("type_id", number(0))]))]) }
        var before: [JSONValue] = [], after: [JSONValue] = []
        var specialTokens: [(key: String, value: JSONValue)] = []
        for (token, first) in [(ModelConfig.SpecialToken.bos, true), (.eos, false)] where bool("tokenizer.add_\(token.rawValue)") {
            guard let id = config.specialTokens[token], tokenizer.tokens.indices.contains(id) else { continue }
            let name = tokenizer.tokens[id]
            let entry = JSONValue.object([("SpecialToken", .object([("id", .string(name)), ("type_id", number(0))]))])
            if first { before.append(entry) } else { after.append(entry) }
            specialTokens.append((name, .object([("id", .string(name)), ("ids", .array([number(id)])), ("tokens", .array([.string(name)]))])))
        }
        let single = before + [sequence("A")] + after
        let pair = robertaPair ? before + [sequence("A")] + after + after + [sequence("B")] + after : single
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                        ("special_tokens", .object(specialTokens))])
    }

    /// A Unigram tokenizer as `tokenizers` writes tokenizer.json: `[token, score]` pairs, the
    /// normalizers in the order the import reads them, Metaspace that splits, XLM-R's pair template.
    static func unigramTokenizerJSON(_ tokenizer: TokenizerData, _ config: ModelConfig) -> JSONValue {
        func option(_ key: String) -> MetadataValue? { tokenizer.options[key] }
        var normalizers: [JSONValue] = []
        if case .string(let map)? = option("tokenizer.precompiled_charsmap") {
            normalizers.append(.object([("type", .string("Precompiled")), ("precompiled_charsmap", .string(map))]))
        }
        if case .string(let form)? = option("tokenizer.normalization") { normalizers.append(.object([("type", .string(form.uppercased()))])) }
        if case .string(let side)? = option("tokenizer.strip") {
            normalizers.append(.object([("type", .string("Strip")), ("strip_left", .bool(side != "right")), ("strip_right", .bool(side != "left"))]))
        }
        if case .string(let replacement)? = option("tokenizer.collapse_spaces") {
            normalizers.append(.object([("type", .string("Replace")), ("pattern", .object([("Regex", .string(" {2,}"))])), ("content", .string(replacement))]))
        }
        let prefix: String = if case .bool(false)? = option("tokenizer.add_prefix_space") { "never" }
            else if case .string(let scheme)? = option("tokenizer.prefix_scheme") { scheme } else { "always" }
        let metaspace = JSONValue.object([("type", .string("Metaspace")), ("replacement", .string("\u{2581}")),
                                          ("prepend_scheme", .string(prefix)), ("split", .bool(true))])
        let scores = tokenizer.scores ?? Array(repeating: 0, count: tokenizer.tokens.count)
        let byteFallback: Bool = if case .bool(let b)? = option("tokenizer.byte_fallback") { b } else { false }
        let whitespaceSplit: Bool = if case .bool(let b)? = option("tokenizer.whitespace_split") { b } else { false }
        let model: JSONValue = .object([
            ("type", .string("Unigram")), ("unk_id", config.specialTokens[.unk].map { .number("\($0)") } ?? .null),
            ("vocab", .array(zip(tokenizer.tokens, scores).map { .array([.string($0), .number("\(Double($1))")]) })),
            ("byte_fallback", .bool(byteFallback)),
        ])
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(addedTokensJSON(tokenizer, config, configSpecials: false))),
            ("normalizer", normalizers.isEmpty ? .null : .object([("type", .string("Sequence")), ("normalizers", .array(normalizers))])),
            ("pre_tokenizer", whitespaceSplit ? .object([("type", .string("Sequence")), ("pretokenizers", .array([.object([("type", .string("WhitespaceSplit"))]), metaspace]))]) : metaspace),
            ("post_processor", templateJSON(tokenizer, config, robertaPair: true)),
            ("decoder", metaspace), ("model", model),
        ])
    }

    /// A byte-level BPE tokenizer as Hugging Face `tokenizers` writes tokenizer.json: its split regexes as
    /// `Split(Isolated)` steps before `ByteLevel(use_regex: false)`, BOS/EOS as a template.
    static func byteLevelTokenizerJSON(_ tokenizer: TokenizerData, _ config: ModelConfig) -> JSONValue {
        func bool(_ key: String) -> Bool { if case .bool(let b)? = tokenizer.options[key] { b } else { false } }
        func number(_ n: Int) -> JSONValue { .number("\(n)") }
        let patterns: [String] = if case .stringArray(let v)? = tokenizer.options["tokenizer.pre_split"] { v } else { [gpt2SplitPattern] }
        let added = addedTokensJSON(tokenizer, config)
        let normalizer: JSONValue = if case .string(let form)? = tokenizer.options["tokenizer.normalization"] {
            .object([("type", .string(form.uppercased()))])
        } else { .null }
        let steps: [JSONValue] = patterns.map { pattern in
            .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])), ("behavior", .string("Isolated")), ("invert", .bool(false))])
        } + [.object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(bool("tokenizer.add_prefix_space"))),
                      ("trim_offsets", .bool(true)), ("use_regex", .bool(false))])]
        let post = templateJSON(tokenizer, config, robertaPair: tokenizer.options["tokenizer.pair_template"] == .string("roberta"))
        // A repeated token keeps its last id, as qkv's BPE (and a Python dict built in id order) has it.
        var lastID: [[UInt8]: Int] = [:]
        for (id, token) in tokenizer.tokens.enumerated() { lastID[Array(token.utf8)] = id }
        var vocab: [(key: String, value: JSONValue)] = []
        for token in tokenizer.tokens {
            let key = Array(token.utf8)
            if let id = lastID.removeValue(forKey: key) { vocab.append((token, number(id))) }
        }
        let model: JSONValue = .object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
            ("ignore_merges", .bool(bool("tokenizer.ignore_merges"))), ("vocab", .object(vocab)),
            ("merges", .array((tokenizer.merges ?? []).map { .string($0) })),
        ])
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", normalizer), ("pre_tokenizer", .object([("type", .string("Sequence")), ("pretokenizers", .array(steps))])),
            ("post_processor", post),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", model),
        ])
    }
}
