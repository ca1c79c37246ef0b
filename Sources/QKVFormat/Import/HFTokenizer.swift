import Foundation

/// Reads the tokenizer of a Hugging Face folder (`tokenizer.json`, `vocab.txt`, `vocab.json` +
/// `merges.txt`, `tokenizer_config.json`, `special_tokens_map.json`) into the schema's `TokenizerData`
/// (Specs/architectures.md, "Tokenizers"), and sets the config's special token ids.
enum HFTokenizerImport {
    static func load(folder: String, family: ModelConfig.Family, config: inout ModelConfig) throws -> TokenizerData? {
        let files = HFFolderFiles(folder: folder)
        let tokenizerJSON = try files.json("tokenizer.json")
        let tokenizerConfig = try files.json("tokenizer_config.json")
        switch family {
        case .bert: return try wordPiece(files, tokenizerJSON, tokenizerConfig, &config)
        case .gpt2: return try byteLevelBPE(files, tokenizerJSON, &config)
        case .llama: return try sentencePieceBPE(files, tokenizerJSON, tokenizerConfig, &config)
        }
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

    private static func byteLevelBPE(_ files: HFFolderFiles, _ json: JSONValue?, _ config: inout ModelConfig) throws -> TokenizerData? {
        var options: [String: MetadataValue] = ["tokenizer.add_prefix_space": .bool(false)]
        let tokens: [String], merges: [String]
        if let json, let model = json["model"] {
            let file = files.path("tokenizer.json")
            tokens = try orderedVocabulary(model["vocab"], added: json["added_tokens"], file: file)
            merges = try mergeList(model["merges"], file: file)
            if let pre = json["pre_tokenizer"], let add = pre["add_prefix_space"]?.boolValue { options["tokenizer.add_prefix_space"] = .bool(add) }
        } else if let vocab = try files.json("vocab.json"), let text = try files.text("merges.txt") {
            tokens = try orderedVocabulary(vocab, added: nil, file: files.path("vocab.json"))
            merges = text.components(separatedBy: "\n").filter { !$0.isEmpty && !$0.hasPrefix("#version") }
        } else {
            return nil
        }
        var data = TokenizerData(kind: .bpe, tokens: tokens, merges: merges, options: options)
        // Added tokens are matched whole before BPE: special ones as control (3), the rest user-defined (4).
        let added = json?["added_tokens"]?.arrayValue ?? []
        if !added.isEmpty {
            var types = [Int32](repeating: 1, count: tokens.count)
            for entry in added {
                guard let id = entry["id"]?.int64Value, let i = Int(exactly: id), types.indices.contains(i) else { continue }
                types[i] = entry["special"]?.boolValue == true ? 3 : 4
            }
            data.tokenTypes = types
        }
        return data
    }

    // MARK: SentencePiece-style BPE (LLaMA)

    private static func sentencePieceBPE(_ files: HFFolderFiles, _ json: JSONValue?, _ tokenizerConfig: JSONValue?,
                                         _ config: inout ModelConfig) throws -> TokenizerData? {
        guard let json, let model = json["model"] else { return nil }
        let file = files.path("tokenizer.json")
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

    // MARK: Shared

    /// Tokens by id from a `{token: id}` object plus `added_tokens`; the ids must be exactly 0..<n.
    static func orderedVocabulary(_ vocab: JSONValue?, added: JSONValue?, file: String) throws -> [String] {
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
    static func mergeList(_ merges: JSONValue?, file: String) throws -> [String] {
        guard let merges else { return [] }
        guard let list = merges.arrayValue else { throw ImportError.tokenizer(file: file, reason: "model.merges is not a list") }
        return try list.map { merge in
            if let s = merge.stringValue { return s }
            if let pair = merge.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue { return "\(a) \(b)" }
            throw ImportError.tokenizer(file: file, reason: "a merge is \(merge.text), expected \"a b\" or [\"a\", \"b\"]")
        }
    }

    /// A special token given as a string or as `{"content": ...}`.
    static func specialName(_ value: JSONValue?) -> String? {
        value?.stringValue ?? value?["content"]?.stringValue
    }
}

/// The files of one Hugging Face folder, read on demand.
struct HFFolderFiles {
    let folder: String

    func path(_ name: String) -> String { folder == "." ? name : "\(folder)/\(name)" }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    func text(_ name: String) throws -> String? {
        guard exists(name) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(name)) else { throw IOError.readFailed(file: path(name), errno: EIO) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ImportError.notACheckpoint(path: path(name), reason: "not UTF-8 text")
        }
        return text
    }

    func json(_ name: String) throws -> JSONValue? {
        guard exists(name) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(name)) else { throw IOError.readFailed(file: path(name), errno: EIO) }
        do {
            return try JSONParser.parse([UInt8](data))
        } catch {
            throw ImportError.notACheckpoint(path: path(name), reason: "not JSON: \(error.reason) at byte \(error.offset)")
        }
    }
}
