import Foundation

/// Reads the tokenizer of a Hugging Face folder (`tokenizer.json`, `vocab.txt`, `vocab.json` +
/// `merges.txt`, `tokenizer_config.json`, `special_tokens_map.json`) into the schema's `TokenizerData`
/// (Specs/architectures.md, "Tokenizers"), and sets the config's special token ids.
public enum HFTokenizerImport {
    /// The tokenizer of a checkpoint folder. A `tokenizer.json` decides by itself what it is (its model
    /// type, pre-tokenizer, normalizer and decoder: `fromTokenizerJSON`); the architecture `family`
    /// only chooses between the older files (`vocab.txt`, `vocab.json` + `merges.txt`).
    package static func load(folder: String, family: ModelConfig.Family, config: inout ModelConfig) throws -> TokenizerData? {
        let files = HFFolderFiles(folder: folder)
        let tokenizerJSON = try files.json("tokenizer.json")
        let tokenizerConfig = try files.json("tokenizer_config.json")
        var data: TokenizerData?
        if let tokenizerJSON, tokenizerJSON["model"] != nil {
            data = try fromTokenizerJSON(tokenizerJSON, files: files, tokenizerConfig: tokenizerConfig, config: &config)
        } else {
            switch family {
            case .bert: data = try wordPiece(files, nil, tokenizerConfig, &config)
            case .gpt2: data = try byteLevelBPE(files, &config)
            case .llama: data = nil
            }
        }
        if data != nil, let template = try chatTemplate(tokenizerConfig, file: files.path("tokenizer_config.json")) {
            data!.options["tokenizer.chat_template"] = .string(template)
        }
        if data != nil { try prompts(files, into: &data!) }
        return data
    }

    /// sentence-transformers' `prompts` and `default_prompt_name` (config_sentence_transformers.json).
    package static func prompts(_ files: HFFolderFiles, into data: inout TokenizerData) throws {
        let file = files.path("config_sentence_transformers.json")
        guard let st = try files.json("config_sentence_transformers.json") else { return }
        var names: [String] = [], texts: [String] = []
        if let prompts = st["prompts"], prompts != .null {
            guard let members = prompts.objectValue else { throw ImportError.tokenizer(file: file, reason: "'prompts' is not an object of name: text") }
            for (name, text) in members {
                guard let text = text.stringValue else { throw ImportError.tokenizer(file: file, reason: "prompt '\(name)' is \(text.text), not a string") }
                names.append(name)
                texts.append(text)
            }
        }
        if !names.isEmpty {
            data.options["tokenizer.prompt_names"] = .stringArray(names)
            data.options["tokenizer.prompts"] = .stringArray(texts)
        }
        if let value = st["default_prompt_name"], value != .null {
            guard let name = value.stringValue, names.contains(name) else {
                throw ImportError.tokenizer(file: file, reason: "'default_prompt_name' \(value.text) is not one of the prompts (\(names.joined(separator: ", ")))")
            }
            data.options["tokenizer.default_prompt_name"] = .string(name)
        }
    }

    /// `chat_template` of tokenizer_config.json: a string, or a list of `{name, template}` of which the
    /// one named `default` is the chat template (transformers' rule).
    package static func chatTemplate(_ tokenizerConfig: JSONValue?, file: String) throws -> String? {
        guard let value = tokenizerConfig?["chat_template"], value != .null else { return nil }
        if let text = value.stringValue { return text }
        if let list = value.arrayValue {
            return list.first { $0["name"]?.stringValue == "default" }?["template"]?.stringValue
        }
        throw ImportError.tokenizer(file: file, reason: "'chat_template' is neither a string nor a list of {name, template}")
    }

    /// The tokenizer data of a lone Hugging Face `tokenizer.json` (with the `tokenizer_config.json` beside
    /// it, if there is one: special tokens, the chat template, `model_max_length`), and a config that holds
    /// only the vocabulary size and the special token ids (its other sizes are 1s).
    ///
    /// Reads no model and needs no container: QKVTokenizers' `loadTokenizer(huggingFaceFile:)` builds the
    /// tokenizer from it.
    /// - Throws: `ImportError.tokenizer` when the file is not a tokenizer.json or describes a tokenizer qkv
    ///   does not implement; `ImportError.notACheckpoint` when it is not JSON; `IOError` when it cannot be read.
    public static func standalone(jsonPath: String) throws -> (TokenizerData, ModelConfig) {
        let (folder, name) = splitPath(jsonPath)
        let files = HFFolderFiles(folder: folder)
        guard let json = try files.json(name), json["model"] != nil else {
            throw ImportError.tokenizer(file: jsonPath, reason: "is not a Hugging Face tokenizer.json (no 'model')")
        }
        var config = ModelConfig.tokenizerPlaceholder(family: .llama, vocabSize: Int(Int32.max))
        let data = try fromTokenizerJSON(json, files: files, tokenizerConfig: try files.json("tokenizer_config.json"),
                                         config: &config, jsonName: name, standalone: true)
        return (data, ModelConfig.tokenizerPlaceholder(specialTokensOf: config, data))
    }

    // MARK: tokenizer.json

    /// The tokenizer a `tokenizer.json` describes, chosen from its own parts: `BPE` with a `ByteLevel`
    /// pre-tokenizer is byte-level BPE (its `Split`/`Digits` steps become `tokenizer.pre_split`), `BPE`
    /// with `Metaspace` or a `Replace(" ", "▁")` normalizer is SentencePiece BPE, `WordPiece` is BERT's.
    /// Anything else is refused with the name of the part qkv does not implement.
    package static func fromTokenizerJSON(_ json: JSONValue, files: HFFolderFiles, tokenizerConfig: JSONValue?,
                                  config: inout ModelConfig, jsonName: String = "tokenizer.json", standalone: Bool = false) throws -> TokenizerData {
        let file = files.path(jsonName)
        func refuse(_ reason: String) -> ImportError { ImportError.tokenizer(file: file, reason: reason) }
        let model = json["model"]!
        let type = model["type"]?.stringValue ?? (model["merges"] != nil ? "BPE" : model["continuing_subword_prefix"] != nil ? "WordPiece" : "?")
        switch type {
        case "WordPiece":
            guard let data = try wordPiece(files, json, tokenizerConfig, &config) else { throw refuse("WordPiece without a vocabulary") }
            return data
        case "BPE": break
        case "Unigram":
            var data = try unigram(json, file: file, config: &config)
            for flag in ["lstrip", "rstrip"] {
                let ids = addedIDs(json["added_tokens"], flag)
                if !ids.isEmpty { data.options["tokenizer.\(flag)_ids"] = .int32Array(ids) }
            }
            try specialTokensFromJSON(json, tokenizerConfig: tokenizerConfig, tokens: data.tokens, standalone: standalone, data: &data, config: &config)
            if let n = tokenizerConfig?["model_max_length"]?.int64Value, n >= 1, n < 1 << 31 { data.options["tokenizer.max_length"] = .int(n) }
            // XLM-R's separator (`</s>`, between a pair's texts) and mask, named in tokenizer_config.json:
            // what a GGUF export states as llama.cpp's converter does.
            let index = Dictionary(data.tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for (token, field) in [(ModelConfig.SpecialToken.sep, "sep_token"), (.mask, "mask_token")] where config.specialTokens[token] == nil {
                if let name = specialName(tokenizerConfig?[field]), let id = index[name] { config.specialTokens[token] = id }
            }
            return data
        default: throw refuse("model type '\(type)' is not supported (qkv reads BPE, WordPiece and Unigram)")
        }
        for key in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], value != .null, value != .string("") { throw refuse("model.\(key) = \(value.text) is not supported") }
        }
        try checkAddedTokens(json["added_tokens"], refuse)

        // The steps of the pre-tokenizer and normalizer, flattened out of their Sequences.
        func steps(_ value: JSONValue?, _ list: String) -> [JSONValue] {
            guard let value, value != .null else { return [] }
            if value["type"]?.stringValue == "Sequence" { return (value[list]?.arrayValue ?? []).flatMap { steps($0, list) } }
            return [value]
        }
        let pre = steps(json["pre_tokenizer"], "pretokenizers")
        let norm = steps(json["normalizer"], "normalizers")
        let byteLevel = pre.contains { $0["type"]?.stringValue == "ByteLevel" }

        var options: [String: MetadataValue] = [:]
        var unicodeForm: String?
        var spaceToMeta = false, prependMeta = false
        for step in norm {
            let name = step["type"]?.stringValue ?? "?"
            switch name {
            case "NFC", "NFKC", "NFD", "NFKD":
                guard unicodeForm == nil else { throw refuse("normalizer has two Unicode normalizations") }
                unicodeForm = name.lowercased()
            case "Prepend" where step["prepend"]?.stringValue == "\u{2581}" && !byteLevel:
                prependMeta = true
            case "Replace" where step["pattern"]?["String"]?.stringValue == " " && step["content"]?.stringValue == "\u{2581}" && !byteLevel:
                spaceToMeta = true
            default:
                throw refuse("normalizer '\(name)' \(step.text.prefix(120)) is not supported here")
            }
        }
        if let unicodeForm { options["tokenizer.normalization"] = .string(unicodeForm) }
        if model["ignore_merges"]?.boolValue == true { options["tokenizer.ignore_merges"] = .bool(true) }

        let tokens = try orderedVocabulary(model["vocab"], added: json["added_tokens"], file: file)
        let merges = try mergeList(model["merges"], file: file)
        var data: TokenizerData
        if byteLevel {
            var patterns: [String] = []
            var addPrefixSpace = false
            for step in pre {
                let name = step["type"]?.stringValue ?? "?"
                switch name {
                case "ByteLevel":
                    addPrefixSpace = step["add_prefix_space"]?.boolValue ?? false
                    if step["use_regex"]?.boolValue ?? true { patterns.append(gpt2SplitPattern) }
                case "Split":
                    let behavior = step["behavior"]?.stringValue ?? "?"
                    guard behavior == "Isolated", step["invert"]?.boolValue != true else {
                        throw refuse("pre-tokenizer Split with behavior '\(behavior)'\(step["invert"]?.boolValue == true ? " inverted" : "") is not supported (qkv splits Isolated)")
                    }
                    if let regex = step["pattern"]?["Regex"]?.stringValue {
                        patterns.append(regex)
                    } else if let literal = step["pattern"]?["String"]?.stringValue {
                        patterns.append(regexLiteral(literal))
                    } else {
                        throw refuse("pre-tokenizer Split has no pattern")
                    }
                case "Digits":
                    patterns.append(step["individual_digits"]?.boolValue == true ? #"\p{N}"# : #"\p{N}+"#)
                default:
                    throw refuse("pre-tokenizer '\(name)' is not supported with ByteLevel")
                }
            }
            options["tokenizer.add_prefix_space"] = .bool(addPrefixSpace)
            if patterns != [gpt2SplitPattern] {
                options["tokenizer.pre_split"] = .stringArray(patterns)
                // llama.cpp's name for the same split, so a GGUF export can say it.
                let ignoreMerges = model["ignore_merges"]?.boolValue ?? false
                if let name = LlamaCppPreTokenizer.name(for: patterns, ignoreMerges: ignoreMerges) { options["tokenizer.pre"] = .string(name) }
            }
            if let decoder = json["decoder"], decoder != .null, decoder["type"]?.stringValue != "ByteLevel" {
                throw refuse("decoder '\(decoder["type"]?.stringValue ?? "?")' with a ByteLevel pre-tokenizer is not supported")
            }
            data = TokenizerData(kind: .bpe, tokens: tokens, merges: merges, options: options)
            let added = json["added_tokens"]?.arrayValue ?? []
            if !added.isEmpty {
                var types = [Int32](repeating: 1, count: tokens.count)
                for entry in added {
                    guard let id = entry["id"]?.int64Value, let i = Int(exactly: id), types.indices.contains(i) else { continue }
                    types[i] = entry["special"]?.boolValue == true ? 3 : 4
                }
                data.tokenTypes = types
            }
        } else {
            // SentencePiece style: spaces become `▁`, by a Metaspace pre-tokenizer or by the normalizer.
            var addPrefixSpace = prependMeta
            for step in pre {
                let name = step["type"]?.stringValue ?? "?"
                // Gemma's tokenizer.json splits on " " after its normalizer has turned every space into `▁`:
                // there is no space left to split on, so the step does nothing.
                if name == "Split", spaceToMeta, step["pattern"]?["String"]?.stringValue == " ", step["invert"]?.boolValue != true { continue }
                guard name == "Metaspace" else { throw refuse("pre-tokenizer '\(name)' is not supported with a BPE model") }
                guard (step["replacement"]?.stringValue ?? "\u{2581}") == "\u{2581}" else { throw refuse("Metaspace replacement other than U+2581 is not supported") }
                if step["split"]?.boolValue == true { throw refuse("Metaspace with split: true is not supported (qkv merges each stretch whole)") }
                let scheme = step["prepend_scheme"]?.stringValue ?? ((step["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
                switch scheme {
                case "first", "always":
                    addPrefixSpace = true
                    options["tokenizer.prefix_scheme"] = .string(scheme)
                case "never": addPrefixSpace = false
                default: throw refuse("Metaspace prepend_scheme '\(scheme)' is not supported")
                }
                spaceToMeta = true
            }
            guard spaceToMeta else { throw refuse("a BPE model with neither ByteLevel nor Metaspace nor a Replace(' ', '▁') normalizer is not supported") }
            data = try sentencePieceBPE(files, json, tokenizerConfig, &config, jsonName: jsonName)!
            data.options.merge(options) { $1 }
            data.options["tokenizer.add_prefix_space"] = .bool(addPrefixSpace)
            if prependMeta { data.options["tokenizer.prefix_scheme"] = .string("prepend") }
        }
        for flag in ["lstrip", "rstrip"] {
            let ids = addedIDs(json["added_tokens"], flag)
            if !ids.isEmpty { data.options["tokenizer.\(flag)_ids"] = .int32Array(ids) }
        }
        try specialTokensFromJSON(json, tokenizerConfig: tokenizerConfig, tokens: tokens, standalone: standalone, data: &data, config: &config)
        // RoBERTa's encoders: the length sentence-transformers cuts at (a decoder's BPE keeps no limit).
        if data.options["tokenizer.pair_template"] != nil {
            if let st = try files.json("sentence_bert_config.json"), let n = st["max_seq_length"]?.int64Value, n >= 1 {
                data.options["tokenizer.max_length"] = .int(n)
            } else if let n = tokenizerConfig?["model_max_length"]?.int64Value, n >= 1, n < 1 << 31 {
                data.options["tokenizer.max_length"] = .int(n)
            }
        }
        return data
    }

    /// Refuses added tokens whose matching flag qkv does not implement (single_word).
    private static func checkAddedTokens(_ added: JSONValue?, _ refuse: (String) -> ImportError) throws {
        for entry in added?.arrayValue ?? [] where entry["single_word"]?.boolValue == true {
            throw refuse("added token '\(entry["content"]?.stringValue ?? "?")' has single_word: true, which qkv does not implement")
        }
    }

    /// The ids of the added tokens with `flag` (lstrip, rstrip) set.
    private static func addedIDs(_ added: JSONValue?, _ flag: String) -> [Int32] {
        (added?.arrayValue ?? []).compactMap { entry in
            guard entry[flag]?.boolValue == true, let id = entry["id"]?.int64Value else { return nil }
            return Int32(exactly: id)
        }
    }

    /// `text` as a regex that matches it literally.
    package static func regexLiteral(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            if "\\^$.|?*+()[]{}/-".unicodeScalars.contains(c) { out += "\\" }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// BOS/EOS from the post-processor (`TemplateProcessing`'s single template) or from
    /// `tokenizer_config.json`'s `add_bos_token`/`add_eos_token`, and the special token ids by name.
    private static func specialTokensFromJSON(_ json: JSONValue, tokenizerConfig: JSONValue?, tokens: [String], standalone: Bool,
                                              data: inout TokenizerData, config: inout ModelConfig) throws {
        let index = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        // A checkpoint's config.json names its special ids; a lone tokenizer.json has only the names.
        if standalone {
            for (token, field) in [(ModelConfig.SpecialToken.bos, "bos_token"), (.eos, "eos_token"), (.unk, "unk_token"), (.pad, "pad_token")] {
                if config.specialTokens[token] == nil, let name = specialName(tokenizerConfig?[field]), let id = index[name] {
                    config.specialTokens[token] = id
                }
            }
        }
        var addBOS = false, addEOS = false
        // The processor that adds special tokens, alone or in a Sequence (after ByteLevel's offsets step).
        let post = json["post_processor"].flatMap { post in
            post["type"]?.stringValue == "Sequence"
                ? post["processors"]?.arrayValue?.first { ["TemplateProcessing", "RobertaProcessing", "BertProcessing"].contains($0["type"]?.stringValue ?? "") }
                : post
        }
        if let post, post["type"]?.stringValue == "TemplateProcessing", let single = post["single"]?.arrayValue {
            func special(_ entry: JSONValue?) -> Int? {
                guard let name = entry?["SpecialToken"]?["id"]?.stringValue else { return nil }
                return index[name]
            }
            if let id = special(single.first) { addBOS = true; config.specialTokens[.bos] = id }
            if single.count > 1, let id = special(single.last) { addEOS = true; config.specialTokens[.eos] = id }
            // RoBERTa's pair, `bos A eos eos B eos` all of type 0, as a template (what an export writes).
            if data.kind == .bpe, addBOS, addEOS, let pair = post["pair"]?.arrayValue, pair.count == 6,
               pair.allSatisfy({ ($0["SpecialToken"] ?? $0["Sequence"])?["type_id"]?.int64Value ?? 0 == 0 }),
               pair[1]["Sequence"]?["id"]?.stringValue == "A", pair[4]["Sequence"]?["id"]?.stringValue == "B",
               special(pair[0]) == config.specialTokens[.bos], [2, 3, 5].allSatisfy({ special(pair[$0]) == config.specialTokens[.eos] }) {
                data.options["tokenizer.pair_template"] = .string("roberta")
            }
        } else if let post, let kind = post["type"]?.stringValue, kind == "RobertaProcessing" || kind == "BertProcessing" {
            // `cls`/`sep` as [name, id]: the single template is `cls A sep`; RoBERTa's pair is `cls A sep sep B sep`.
            func special(_ field: String) -> Int? {
                guard let entry = post[field]?.arrayValue, entry.count == 2, let name = entry[0].stringValue else { return nil }
                return index[name] ?? entry[1].int64Value.flatMap { Int(exactly: $0) }
            }
            if let id = special("cls") { addBOS = true; config.specialTokens[.bos] = id }
            if let id = special("sep") { addEOS = true; config.specialTokens[.eos] = id }
            if kind == "RobertaProcessing", data.kind == .bpe, addBOS, addEOS { data.options["tokenizer.pair_template"] = .string("roberta") }
        } else {
            addBOS = tokenizerConfig?["add_bos_token"]?.boolValue ?? (data.kind == .sentencepieceBPE)
            addEOS = tokenizerConfig?["add_eos_token"]?.boolValue ?? false
        }
        addBOS = addBOS && config.specialTokens[.bos] != nil
        addEOS = addEOS && config.specialTokens[.eos] != nil
        // Byte-level BPE adds nothing when the keys are absent; SentencePiece BPE adds BOS then.
        if data.kind == .sentencepieceBPE || addBOS { data.options["tokenizer.add_bos"] = .bool(addBOS) }
        if data.kind == .sentencepieceBPE || addEOS { data.options["tokenizer.add_eos"] = .bool(addEOS) }
    }

    // MARK: WordPiece (BERT)

    private static func wordPiece(_ files: HFFolderFiles, _ json: JSONValue?, _ tokenizerConfig: JSONValue?,
                                  _ config: inout ModelConfig) throws -> TokenizerData? {
        let tokens: [String]
        var options: [String: MetadataValue] = [:]
        if let json, let model = json["model"] {
            tokens = try orderedVocabulary(model["vocab"], added: json["added_tokens"], file: files.path("tokenizer.json"))
            options["tokenizer.continuing_prefix"] = .string(model["continuing_subword_prefix"]?.stringValue ?? "##")
            options["tokenizer.max_word_chars"] = .int(model["max_input_chars_per_word"]?.int64Value ?? 100)
            let normalizer = json["normalizer"]
            let lowercase = normalizer?["lowercase"]?.boolValue ?? true
            options["tokenizer.lowercase"] = .bool(lowercase)
            options["tokenizer.strip_accents"] = .bool(normalizer?["strip_accents"]?.boolValue ?? lowercase)
            options["tokenizer.clean_text"] = .bool(normalizer?["clean_text"]?.boolValue ?? true)
            options["tokenizer.chinese_chars"] = .bool(normalizer?["handle_chinese_chars"]?.boolValue ?? true)
        } else if let text = try files.text("vocab.txt") {
            var lines = text.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            tokens = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
            let lowercase = tokenizerConfig?["do_lower_case"]?.boolValue ?? true
            options["tokenizer.lowercase"] = .bool(lowercase)
            options["tokenizer.strip_accents"] = .bool(tokenizerConfig?["strip_accents"]?.boolValue ?? lowercase)
            options["tokenizer.clean_text"] = .bool(true)
            options["tokenizer.chinese_chars"] = .bool(tokenizerConfig?["tokenize_chinese_chars"]?.boolValue ?? true)
            options["tokenizer.continuing_prefix"] = .string("##")
            options["tokenizer.max_word_chars"] = .int(100)
        } else {
            return nil
        }
        if let st = try files.json("sentence_bert_config.json"), let n = st["max_seq_length"]?.int64Value {
            options["tokenizer.max_length"] = .int(n)
        } else if files.exists("modules.json"), let n = tokenizerConfig?["model_max_length"]?.int64Value, n >= 1, n < 1 << 31 {
            // sentence-transformers 5 and later keep max_seq_length as the tokenizer's model_max_length
            // (a tokenizer without a limit says 10^30, which is no Int64: none).
            options["tokenizer.max_length"] = .int(n)
        }
        // Special tokens by name: special_tokens_map.json, else BERT's defaults.
        let names = try files.json("special_tokens_map.json")
        let index = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (token, field, fallback) in [(ModelConfig.SpecialToken.cls, "cls_token", "[CLS]"), (.sep, "sep_token", "[SEP]"),
                                         (.pad, "pad_token", "[PAD]"), (.unk, "unk_token", "[UNK]"), (.mask, "mask_token", "[MASK]")] {
            let name = specialName(names?[field]) ?? fallback
            guard let id = index[name] else { continue }
            if let stated = config.specialTokens[token], stated != id {
                throw ImportError.tokenizer(file: files.path("config.json"), reason: "\(token.rawValue) token id \(stated) disagrees with the tokenizer's '\(name)' = \(id)")
            }
            config.specialTokens[token] = id
        }
        return TokenizerData(kind: .wordpiece, tokens: tokens, options: options)
    }

    // MARK: Byte-level BPE (GPT-2)

    /// GPT-2's older files, `vocab.json` and `merges.txt`, for a `gpt2` folder without a tokenizer.json.
    private static func byteLevelBPE(_ files: HFFolderFiles, _ config: inout ModelConfig) throws -> TokenizerData? {
        guard let vocab = try files.json("vocab.json"), let text = try files.text("merges.txt") else { return nil }
        let tokens = try orderedVocabulary(vocab, added: nil, file: files.path("vocab.json"))
        let merges = text.components(separatedBy: "\n").filter { !$0.isEmpty && !$0.hasPrefix("#version") }
        return TokenizerData(kind: .bpe, tokens: tokens, merges: merges, options: ["tokenizer.add_prefix_space": .bool(false)])
    }

    // MARK: SentencePiece-style BPE (LLaMA)

    private static func sentencePieceBPE(_ files: HFFolderFiles, _ json: JSONValue?, _ tokenizerConfig: JSONValue?,
                                         _ config: inout ModelConfig, jsonName: String = "tokenizer.json") throws -> TokenizerData? {
        guard let json, let model = json["model"] else { return nil }
        let file = files.path(jsonName)
        let tokens = try orderedVocabulary(model["vocab"], added: json["added_tokens"], file: file)
        let merges = try mergeList(model["merges"], file: file)
        let unk = model["unk_token"]?.stringValue
        let added = json["added_tokens"]?.arrayValue ?? []
        let special = Set(added.filter { $0["special"]?.boolValue == true }.compactMap { $0["content"]?.stringValue })
        let userDefined = Set(added.filter { $0["special"]?.boolValue != true }.compactMap { $0["content"]?.stringValue })
        let types: [Int32] = tokens.map { token in
            if token == unk { return 2 }
            if special.contains(token) { return 3 }
            if userDefined.contains(token) { return 4 }
            if token.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") { return 6 }
            return 1
        }
        if let unk, let id = tokens.firstIndex(of: unk) { config.specialTokens[.unk] = id }
        var options: [String: MetadataValue] = ["tokenizer.byte_fallback": .bool(model["byte_fallback"]?.boolValue ?? false)]
        options["tokenizer.add_bos"] = .bool(tokenizerConfig?["add_bos_token"]?.boolValue ?? true)
        options["tokenizer.add_eos"] = .bool(tokenizerConfig?["add_eos_token"]?.boolValue ?? false)
        return TokenizerData(kind: .sentencepieceBPE, tokens: tokens, tokenTypes: types, merges: merges, options: options)
    }

    // MARK: Unigram (SentencePiece: XLM-RoBERTa, T5)

    /// A Unigram tokenizer.json: `[token, score]` pairs, the normalizers SentencePiece conversions write
    /// (Precompiled, a Unicode form, Strip, `Replace(" {2,}", " " or "▁")`, in that order), and a
    /// Metaspace pre-tokenizer that splits. Anything else is refused by name.
    private static func unigram(_ json: JSONValue, file: String, config: inout ModelConfig) throws -> TokenizerData {
        func refuse(_ reason: String) -> ImportError { ImportError.tokenizer(file: file, reason: reason) }
        let model = json["model"]!
        guard let entries = model["vocab"]?.arrayValue else { throw refuse("model.vocab of a Unigram model is not a list of [token, score]") }
        var tokens: [String] = [], scores: [Float] = []
        tokens.reserveCapacity(entries.count)
        scores.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            guard let pair = entry.arrayValue, pair.count == 2, let token = pair[0].stringValue, let score = pair[1].doubleValue, score.isFinite else {
                throw refuse("model.vocab[\(index)] is \(entry.text.prefix(80)), expected [token, score]")
            }
            tokens.append(token)
            scores.append(Float(score))
        }
        guard !tokens.isEmpty else { throw refuse("model.vocab of the Unigram model is empty") }
        for entry in json["added_tokens"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.int64Value, let content = entry["content"]?.stringValue else { continue }
            guard id >= 0, id < Int64(tokens.count), tokens[Int(id)] == content else {
                throw refuse("added token '\(content)' (id \(id)) is not the model's token of that id")
            }
        }
        var options: [String: MetadataValue] = [:]
        let byteFallback = model["byte_fallback"]?.boolValue ?? false
        if byteFallback { options["tokenizer.byte_fallback"] = .bool(true) }
        guard let unk = model["unk_id"]?.int64Value, unk >= 0, unk < Int64(tokens.count) else {
            throw refuse("model.unk_id is missing or not a token id (a Unigram model needs its unknown token)")
        }
        config.specialTokens[.unk] = Int(unk)

        // Normalizers, in the one order SentencePiece's conversions write them.
        let normalizer = json["normalizer"] ?? .null
        let steps = normalizer == .null ? [] : normalizer["type"]?.stringValue == "Sequence" ? (normalizer["normalizers"]?.arrayValue ?? []) : [normalizer]
        var stage = 0
        func advance(to next: Int, _ name: String) throws {
            guard next > stage else { throw refuse("normalizer '\(name)' comes after a step qkv applies later (Precompiled, NFKC, Strip, Replace)") }
            stage = next
        }
        for step in steps {
            let name = step["type"]?.stringValue ?? "?"
            switch name {
            case "Precompiled":
                try advance(to: 1, name)
                guard let text = step["precompiled_charsmap"]?.stringValue else { continue }
                do {
                    _ = try PrecompiledCharsmap(base64: text)
                } catch {
                    throw refuse("normalizer Precompiled's precompiled_charsmap cannot be read: \(error.reason)")
                }
                options["tokenizer.precompiled_charsmap"] = .string(text)
            case "NFC", "NFKC", "NFD", "NFKD":
                try advance(to: 2, name)
                options["tokenizer.normalization"] = .string(name.lowercased())
            case "Strip":
                try advance(to: 3, name)
                let left = step["strip_left"]?.boolValue ?? step["left"]?.boolValue ?? false
                let right = step["strip_right"]?.boolValue ?? step["right"]?.boolValue ?? false
                if left || right { options["tokenizer.strip"] = .string(left && right ? "both" : left ? "left" : "right") }
            case "Replace" where step["pattern"]?["Regex"]?.stringValue == " {2,}" && [" ", "\u{2581}"].contains(step["content"]?.stringValue ?? ""):
                try advance(to: 4, name)
                options["tokenizer.collapse_spaces"] = .string(step["content"]!.stringValue!)
            default:
                throw refuse("normalizer '\(name)' \(step.text.prefix(120)) is not supported with a Unigram model")
            }
        }

        // Metaspace, splitting before each `▁`.
        let pre = json["pre_tokenizer"] ?? .null
        let preSteps = pre == .null ? [] : pre["type"]?.stringValue == "Sequence" ? (pre["pretokenizers"]?.arrayValue ?? []) : [pre]
        let whitespaceSplit = preSteps.count == 2 && preSteps[0]["type"]?.stringValue == "WhitespaceSplit"
        guard preSteps.count == (whitespaceSplit ? 2 : 1), let step = preSteps.last, step["type"]?.stringValue == "Metaspace" else {
            throw refuse("a Unigram model needs a Metaspace pre-tokenizer, after at most a WhitespaceSplit; found \(pre.text.prefix(120))")
        }
        if whitespaceSplit { options["tokenizer.whitespace_split"] = .bool(true) }
        guard (step["replacement"]?.stringValue ?? "\u{2581}") == "\u{2581}" else { throw refuse("Metaspace replacement other than U+2581 is not supported") }
        if step["split"]?.boolValue == false { throw refuse("Metaspace with split: false is not supported with a Unigram model (qkv cuts words before each ▁)") }
        let scheme = step["prepend_scheme"]?.stringValue ?? ((step["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
        switch scheme {
        case "always", "first": options["tokenizer.prefix_scheme"] = .string(scheme)
        case "never": options["tokenizer.add_prefix_space"] = .bool(false)
        default: throw refuse("Metaspace prepend_scheme '\(scheme)' is not supported")
        }

        let added = json["added_tokens"]?.arrayValue ?? []
        let special = Set(added.filter { $0["special"]?.boolValue == true }.compactMap { $0["id"]?.int64Value }.map(Int.init))
        let userDefined = Set(added.filter { $0["special"]?.boolValue != true }.compactMap { $0["id"]?.int64Value }.map(Int.init))
        // Added tokens first: they are what the text is searched for before the Viterbi (an unknown
        // token that is not one stays plain vocabulary, type 2).
        let types: [Int32] = tokens.indices.map { id in
            if special.contains(id) { return 3 }
            if userDefined.contains(id) { return 4 }
            if id == Int(unk) { return 2 }
            if byteFallback, tokens[id].utf8.count == 6, tokens[id].hasPrefix("<0x"), tokens[id].hasSuffix(">") { return 6 }
            return 1
        }
        return TokenizerData(kind: .unigram, tokens: tokens, scores: scores, tokenTypes: types, options: options)
    }

    // MARK: Shared

    /// Tokens by id from a `{token: id}` object plus `added_tokens`; the ids must be exactly 0..<n.
    package static func orderedVocabulary(_ vocab: JSONValue?, added: JSONValue?, file: String) throws -> [String] {
        guard let members = vocab?.objectValue else { throw ImportError.tokenizer(file: file, reason: "has no vocabulary object") }
        var byID: [Int: String] = [:]
        func put(_ token: String, _ id: JSONValue?) throws {
            guard let id = id?.int64Value, id >= 0, id < Int64(Int32.max) else {
                throw ImportError.tokenizer(file: file, reason: "token '\(token)' has no valid id")
            }
            if let existing = byID[Int(id)], existing != token {
                throw ImportError.tokenizer(file: file, reason: "id \(id) names both '\(existing)' and '\(token)'")
            }
            byID[Int(id)] = token
        }
        for (token, id) in members { try put(token, id) }
        for entry in added?.arrayValue ?? [] {
            guard let content = entry["content"]?.stringValue else { continue }
            try put(content, entry["id"])
        }
        let count = byID.count
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let token = byID[id] else { throw ImportError.tokenizer(file: file, reason: "token ids are not contiguous: \(id) is missing") }
            tokens.append(token)
        }
        return tokens
    }

    /// Merges as `"a b"` strings, from either form `tokenizers` writes.
    package static func mergeList(_ merges: JSONValue?, file: String) throws -> [String] {
        guard let merges else { return [] }
        guard let list = merges.arrayValue else { throw ImportError.tokenizer(file: file, reason: "model.merges is not a list") }
        return try list.map { merge in
            if let s = merge.stringValue { return s }
            if let pair = merge.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue { return "\(a) \(b)" }
            throw ImportError.tokenizer(file: file, reason: "a merge is \(merge.text), expected \"a b\" or [\"a\", \"b\"]")
        }
    }

    /// A special token given as a string or as `{"content": ...}`.
    package static func specialName(_ value: JSONValue?) -> String? {
        value?.stringValue ?? value?["content"]?.stringValue
    }
}

/// The files of one Hugging Face folder, read on demand.
package struct HFFolderFiles {
    package let folder: String

    package init(folder: String) { self.folder = folder }

    package func path(_ name: String) -> String { folder == "." ? name : "\(folder)/\(name)" }

    package func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    package func text(_ name: String) throws -> String? {
        guard exists(name) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(name)) else { throw IOError.readFailed(file: path(name), errno: EIO) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ImportError.notACheckpoint(path: path(name), reason: "not UTF-8 text")
        }
        return text
    }

    package func json(_ name: String) throws -> JSONValue? {
        guard exists(name) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(name)) else { throw IOError.readFailed(file: path(name), errno: EIO) }
        do {
            return try JSONParser.parse([UInt8](data))
        } catch {
            throw ImportError.notACheckpoint(path: path(name), reason: "not JSON: \(error.reason) at byte \(error.offset)")
        }
    }
}

extension ModelConfig {
    /// A config with every size 1 but the vocabulary and the context (unbounded, so nothing is truncated),
    /// for tokenizers read without a model.
    package static func tokenizerPlaceholder(family: Family, vocabSize: Int) -> ModelConfig {
        ModelConfig(family: family, vocabSize: vocabSize, modelDim: 1, layerCount: 1, headCount: 1, keyValueHeadCount: 1,
                    headDim: 1, ffnDim: 1, maxPositions: Int(Int32.max), norm: .layernorm, normEpsilon: 1e-5, normPlacement: .pre,
                    activation: .geluErf, positionEncoding: .learned)
    }

    /// A placeholder with `config`'s special tokens, the family the tokenizer kind implies and room for
    /// every token of `data`.
    package static func tokenizerPlaceholder(specialTokensOf config: ModelConfig, _ data: TokenizerData) -> ModelConfig {
        var out = tokenizerPlaceholder(family: data.kind == .wordpiece ? .bert : data.kind == .bpe ? .gpt2 : .llama,
                                       vocabSize: data.tokens.count)
        out.specialTokens = config.specialTokens
        return out
    }
}
