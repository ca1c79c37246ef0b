/// The tokenizer a model file carries (`tokenizer.*` in Specs/schema.md), so one file is enough to run
/// the model. This is data only; the tokenizers that use it live in the inference modules.
public struct TokenizerData: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// BERT WordPiece.
        case wordpiece
        /// GPT-2 byte-level BPE.
        case bpe
        /// LLaMA-style BPE with scores and byte fallback.
        case sentencepieceBPE = "sentencepiece_bpe"
        /// SentencePiece's Unigram model: scores, Viterbi (XLM-RoBERTa, T5).
        case unigram
    }

    public var kind: Kind
    /// The vocabulary; the index is the token id.
    public var tokens: [String]
    public var scores: [Float]?
    public var tokenTypes: [Int32]?
    public var merges: [String]?
    /// The scalar options (`tokenizer.lowercase`, `tokenizer.max_length`, ...), kept as typed values.
    public var options: [String: MetadataValue]

    public init(kind: Kind, tokens: [String], scores: [Float]? = nil, tokenTypes: [Int32]? = nil,
                merges: [String]? = nil, options: [String: MetadataValue] = [:]) {
        self.kind = kind
        self.tokens = tokens
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.options = options
    }

    /// Option keys and their types; the per-token arrays are the four properties above.
    package static let optionTypes: [String: String] = [
        "tokenizer.lowercase": "bool", "tokenizer.strip_accents": "bool", "tokenizer.clean_text": "bool",
        "tokenizer.chinese_chars": "bool", "tokenizer.continuing_prefix": "string",
        "tokenizer.max_word_chars": "int", "tokenizer.add_prefix_space": "bool",
        "tokenizer.byte_fallback": "bool", "tokenizer.add_bos": "bool", "tokenizer.add_eos": "bool",
        "tokenizer.max_length": "int", "tokenizer.pre": "string", "tokenizer.pre_split": "string[]",
        "tokenizer.ignore_merges": "bool", "tokenizer.normalization": "string",
        "tokenizer.prefix_scheme": "string", "tokenizer.lstrip_ids": "int32[]", "tokenizer.rstrip_ids": "int32[]",
        "tokenizer.chat_template": "string", "tokenizer.precompiled_charsmap": "string", "tokenizer.strip": "string",
        "tokenizer.collapse_spaces": "string", "tokenizer.unigram_rules": "string", "tokenizer.whitespace_split": "bool",
        "tokenizer.prompt_names": "string[]", "tokenizer.prompts": "string[]", "tokenizer.default_prompt_name": "string",
        "tokenizer.pair_template": "string",
    ]

    /// Reads the tokenizer from metadata; nil when the file has no `tokenizer.*` keys.
    public init?(metadata: Metadata, config: ModelConfig, file: String) throws(ModelError) {
        let names = metadata.names(in: .tokenizer)
        if names.isEmpty { return nil }
        let reader = MetadataReader(metadata: metadata, file: file)
        let arrays = ["tokenizer.kind", "tokenizer.tokens", "tokenizer.scores", "tokenizer.token_types", "tokenizer.merges"]
        var options: [String: MetadataValue] = [:]
        for key in names.map({ "tokenizer." + $0 }) where !arrays.contains(key) {
            guard let type = TokenizerData.optionTypes[key] else { throw .unknownKey(file: file, key: key) }
            let value = metadata[key]!
            guard value.typeName == type else {
                throw .wrongKeyType(file: file, key: key, expected: type, found: value.typeName)
            }
            options[key] = value
        }
        guard case .stringArray(let tokens) = try reader.value("tokenizer.tokens") else {
            throw reader.wrongType("tokenizer.tokens", "string[]")
        }
        self.init(kind: try reader.choice("tokenizer.kind"), tokens: tokens, options: options)
        if let value = metadata["tokenizer.scores"] {
            guard case .float32Array(let v) = value else { throw reader.wrongType("tokenizer.scores", "float32[]") }
            scores = v
        }
        if let value = metadata["tokenizer.token_types"] {
            guard case .int32Array(let v) = value else { throw reader.wrongType("tokenizer.token_types", "int32[]") }
            tokenTypes = v
        }
        if let value = metadata["tokenizer.merges"] {
            guard case .stringArray(let v) = value else { throw reader.wrongType("tokenizer.merges", "string[]") }
            merges = v
        }
        try check(config: config, file: file)
    }

    func check(config: ModelConfig, file: String) throws(ModelError) {
        if tokens.isEmpty || tokens.count > config.vocabSize {
            throw .invalidValue(file: file, key: "tokenizer.tokens", value: "string[\(tokens.count)]",
                                reason: "must hold 1 to config.vocab_size (\(config.vocabSize)) tokens")
        }
        if let scores, scores.count != tokens.count {
            throw .tokenizerArrayLength(file: file, key: "tokenizer.scores", expected: tokens.count, found: scores.count)
        }
        if let tokenTypes {
            if tokenTypes.count != tokens.count {
                throw .tokenizerArrayLength(file: file, key: "tokenizer.token_types", expected: tokens.count, found: tokenTypes.count)
            }
            if let index = tokenTypes.firstIndex(where: { !(1...6).contains($0) }) {
                throw .invalidValue(file: file, key: "tokenizer.token_types", value: "\(tokenTypes[index]) at index \(index)",
                                    reason: "token types are 1 (normal) to 6 (byte)")
            }
        }
        for (token, id) in config.specialTokens.sorted(by: { $0.key < $1.key }) where id >= tokens.count {
            throw .tokenIdOutOfRange(file: file, key: token.key, id: Int64(id), tokenCount: tokens.count)
        }
        for key in ["tokenizer.lstrip_ids", "tokenizer.rstrip_ids"] {
            if case .int32Array(let ids)? = options[key], let bad = ids.first(where: { !(0..<Int32(tokens.count)).contains($0) }) {
                throw .tokenIdOutOfRange(file: file, key: key, id: Int64(bad), tokenCount: tokens.count)
            }
        }
        if case .string(let name)? = options["tokenizer.pre"], LlamaCppPreTokenizer.table[name] == nil {
            throw .invalidValue(file: file, key: "tokenizer.pre", value: name, reason: "not a llama.cpp pre-tokenizer qkv implements (Specs/schema.md lists them)")
        }
        if kind == .unigram && scores == nil { throw .missingKey(file: file, key: "tokenizer.scores") }
        if case .string(let text)? = options["tokenizer.precompiled_charsmap"] {
            do {
                _ = try PrecompiledCharsmap(base64: text)
            } catch {
                throw .invalidValue(file: file, key: "tokenizer.precompiled_charsmap", value: "\(text.utf8.count) base64 characters", reason: error.reason)
            }
        }
        for (key, allowed) in [("tokenizer.prefix_scheme", ["first", "always", "prepend"]), ("tokenizer.normalization", ["nfc", "nfd", "nfkc", "nfkd"]),
                               ("tokenizer.strip", ["left", "right", "both"]), ("tokenizer.collapse_spaces", [" ", "\u{2581}"]),
                               ("tokenizer.unigram_rules", ["tokenizers", "llama.cpp"]), ("tokenizer.pair_template", ["roberta"])] {
            if case .string(let value)? = options[key], !allowed.contains(value) {
                throw .invalidValue(file: file, key: key, value: value, reason: "must be one of \(allowed.joined(separator: ", "))")
            }
        }
        if case .int(let n)? = options["tokenizer.max_length"], n < 1 {
            throw .invalidValue(file: file, key: "tokenizer.max_length", value: "\(n)", reason: "must be at least 1")
        }
        let names = prompts.map(\.name)
        if (options["tokenizer.prompt_names"] == nil) != (options["tokenizer.prompts"] == nil) {
            throw .missingKey(file: file, key: options["tokenizer.prompts"] == nil ? "tokenizer.prompts" : "tokenizer.prompt_names")
        }
        if case .stringArray(let texts)? = options["tokenizer.prompts"], texts.count != names.count {
            throw .tokenizerArrayLength(file: file, key: "tokenizer.prompts", expected: names.count, found: texts.count)
        }
        if let bad = names.first(where: { $0.isEmpty }) ?? Dictionary(grouping: names, by: { $0 }).first(where: { $1.count > 1 })?.key {
            throw .invalidValue(file: file, key: "tokenizer.prompt_names", value: "\"\(bad)\"", reason: "names must be non-empty and unique")
        }
        if case .string(let name)? = options["tokenizer.default_prompt_name"], !names.contains(name) {
            throw .invalidValue(file: file, key: "tokenizer.default_prompt_name", value: "\"\(name)\"",
                                reason: "is not one of tokenizer.prompt_names (\(names.joined(separator: ", ")))")
        }
    }

    /// sentence-transformers' prompts (`tokenizer.prompt_names` and `tokenizer.prompts`), in file order.
    public var prompts: [(name: String, text: String)] {
        guard case .stringArray(let names)? = options["tokenizer.prompt_names"] else { return [] }
        let texts: [String] = if case .stringArray(let v)? = options["tokenizer.prompts"] { v } else { [] }
        return zip(names, texts).map { ($0, $1) }
    }

    /// The prompt applied when none is asked for (`tokenizer.default_prompt_name`).
    public var defaultPromptName: String? {
        if case .string(let name)? = options["tokenizer.default_prompt_name"] { name } else { nil }
    }

    /// The tokenizer as metadata entries, ready for a writer.
    public var metadata: [String: MetadataValue] {
        var out = options
        out["tokenizer.kind"] = .string(kind.rawValue)
        out["tokenizer.tokens"] = .stringArray(tokens)
        if let scores { out["tokenizer.scores"] = .float32Array(scores) }
        if let tokenTypes { out["tokenizer.token_types"] = .int32Array(tokenTypes) }
        if let merges { out["tokenizer.merges"] = .stringArray(merges) }
        return out
    }
}
