import QKVSchema

/// SentencePiece-style BPE (LLaMA, Gemma, Phi-3), id for id as Hugging Face `tokenizers` runs the
/// model's tokenizer.json, or transformers builds it from a GGUF.
///
/// The pipeline, read top to bottom in `appendPieces`: added tokens typed in the text (`<s>`, control
/// and user-defined tokens) are found first; in each stretch between them every space becomes `▁`
/// (U+2581), and the stretches `prefixScheme` names get a `▁` in front when `addPrefixSpace`; the
/// whole stretch is one BPE word: one symbol per scalar, a scalar without a token becoming its UTF-8
/// bytes as `<0xNN>` tokens (byte fallback), merged by rank. A file without merges (GGUF stores scores)
/// gets transformers' `generate_merges`: every split of every token into two tokens, best score of the
/// merged token first.
///
/// Where the dummy prefix `▁` goes is `prefixScheme`: a GGUF, as llama.cpp and the model's own
/// tokenizer.json (`Prepend("▁")`), puts it before every stretch, even one that starts with a space
/// (" Hello" is `▁`, `▁Hello`); transformers' conversion of a GGUF (Metaspace `first`) gives `▁Hello`.
/// Merges go by the rank of `generate_merges`, where llama.cpp merges by score with ties to the
/// leftmost pair; llama.cpp's test vectors agree with it on every string.
public struct SentencePieceBPETokenizer: Tokenizer {
    /// The id `encode` puts first: `config.bos_token_id` when `tokenizer.add_bos` is true or absent
    /// (LLaMA's default, as llama.cpp and transformers assume for a GGUF without the key), else nil.
    public let bosTokenID: Int?
    /// The id `encode` puts last when `tokenizer.add_eos` is true, else nil.
    public let eosTokenID: Int?
    /// The id of a scalar that has no token and no byte tokens (`config.unk_token_id`); nil: such a
    /// scalar is dropped, as tokenizers' BPE without an unknown token does.
    public let unkTokenID: Int?
    /// Whether a scalar without a token becomes `<0xNN>` byte tokens (`tokenizer.byte_fallback`).
    public let byteFallback: Bool
    /// Whether the text gets a leading `▁` (`tokenizer.add_prefix_space`, absent: true; llama.cpp's
    /// `add_space_prefix`). Decoding then strips one leading space.
    public let addPrefixSpace: Bool
    /// The most ids `encode` returns, specials included (`tokenizer.max_length`); nil: no limit.
    public let maxLength: Int?
    /// Which stretches get the `▁` of `addPrefixSpace` (`tokenizer.prefix_scheme`).
    public let prefixScheme: PrefixScheme

    /// Where the dummy prefix `▁` goes; the three ways Hugging Face and llama.cpp place it.
    public enum PrefixScheme: String, Sendable {
        /// The stretch at the start of the text, unless it starts with a space (Metaspace
        /// `prepend_scheme: first`; transformers' conversion of a GGUF).
        case first
        /// Every stretch between added tokens that does not start with a space (Metaspace `always`).
        case always
        /// Every stretch between added tokens, whatever it starts with (the `Prepend("▁")` normalizer of
        /// Llama 2's tokenizer.json, and llama.cpp).
        case prepend
    }

    let merges: BPEMerges
    /// Tokens of one scalar, the starting symbols.
    let scalarTokens: [Unicode.Scalar: Int32]
    /// `<0xNN>` for each byte, -1 when the vocabulary lacks it.
    let byteTokenIDs: [Int32]
    let added: AddedTokens
    let tokenStrings: [String]

    /// A tokenizer from a model file's SentencePiece BPE data (`tokens`, and `merges` or `scores`;
    /// `token_types` for the added tokens) and its config.
    ///
    /// Options: `tokenizer.add_bos` (absent: true), `tokenizer.add_eos` (absent: false),
    /// `tokenizer.byte_fallback` (absent: false), `tokenizer.add_prefix_space` (absent: true),
    /// `tokenizer.prefix_scheme` (absent: first), `tokenizer.max_length`.
    /// - Throws: `TokenizerError` when the data is not `sentencepiece_bpe`, has neither merges nor
    ///   scores, has a merge that is not two tokens merging into a third, a special token id is out of
    ///   range, BOS/EOS are to be added without the config's id, or an option is malformed.
    public init(data: TokenizerData, config: ModelConfig) throws(TokenizerError) {
        guard data.kind == .sentencepieceBPE else { throw .wrongKind(expected: .sentencepieceBPE, found: data.kind) }
        try checkSpecialTokens(config, tokenCount: data.tokens.count)
        let options = BPEOptions(values: data.options)
        byteFallback = try options.bool("tokenizer.byte_fallback", default: false)
        addPrefixSpace = try options.bool("tokenizer.add_prefix_space", default: true)
        maxLength = try options.int("tokenizer.max_length", minimum: 1)
        let scheme = try options.string("tokenizer.prefix_scheme") ?? "first"
        guard let prefixScheme = PrefixScheme(rawValue: scheme) else {
            throw .invalidOption(key: "tokenizer.prefix_scheme", value: "'\(scheme)'", reason: "expected first, always or prepend")
        }
        self.prefixScheme = prefixScheme
        if let form = try options.normalization() {
            throw .invalidOption(key: "tokenizer.normalization", value: "'\(form.rawValue)'", reason: "sentencepiece_bpe applies no Unicode normalization")
        }
        func required(_ token: ModelConfig.SpecialToken) throws(TokenizerError) -> Int {
            guard let id = config.specialTokens[token] else { throw .missingSpecialToken(token) }
            return id
        }
        bosTokenID = try options.bool("tokenizer.add_bos", default: true) ? try required(.bos) : nil
        eosTokenID = try options.bool("tokenizer.add_eos", default: false) ? try required(.eos) : nil
        unkTokenID = config.specialTokens[.unk]

        let vocabulary = bpeVocabulary(data.tokens)
        if let list = data.merges, !list.isEmpty {
            merges = BPEMerges(pairs: try bpeMergePairs(list, vocabulary: vocabulary))
        } else if let scores = data.scores {
            merges = BPEMerges(pairs: generatedMerges(tokens: data.tokens, scores: scores, vocabulary: vocabulary))
        } else {
            throw .missingArray(key: "tokenizer.scores")
        }
        var scalarTokens: [Unicode.Scalar: Int32] = [:]
        for (id, token) in data.tokens.enumerated() {
            var scalars = token.unicodeScalars.makeIterator()
            if let first = scalars.next(), scalars.next() == nil { scalarTokens[first] = Int32(id) }
        }
        self.scalarTokens = scalarTokens
        byteTokenIDs = (0..<256).map { vocabulary[Array(byteTokenName(UInt8($0)).utf8)] ?? -1 }
        added = AddedTokens(data: data, config: config)
        tokenStrings = data.tokens
    }

    /// The ids of `text` with BOS (and EOS) as the file says: LLaMA's `<s>` first by default.
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    /// The ids of `text`, with or without BOS/EOS, at most `maxLength` of them.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var pieces: [Int] = []
        appendPieces(of: text, to: &pieces)
        return addSpecialTokens
            ? wrapped(pieces, bos: bosTokenID, eos: eosTokenID, maxLength: maxLength)
            : wrapped(pieces, bos: nil, eos: nil, maxLength: maxLength)
    }

    /// The text of `ids` without special tokens (`<s>`, `</s>`, `<unk>`, control tokens), as
    /// transformers' `decode(ids, skip_special_tokens=True)`.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }

    /// The text of `ids`, as tokenizers' decoder chain Replace(`▁` -> " "), ByteFallback, Fuse,
    /// Strip(one leading space, when `addPrefixSpace`).
    ///
    /// A run of `<0xNN>` tokens is read as UTF-8; if the run is not valid UTF-8 as a whole, every byte
    /// of it becomes one U+FFFD (ByteFallback's rule, unlike a lossy UTF-8 read). Ids outside the
    /// vocabulary are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var out: [UInt8] = []
        var run: [UInt8] = []
        for id in ids where tokenStrings.indices.contains(id) {
            if skipSpecialTokens && added.special.contains(id) { continue }
            let token = tokenStrings[id]
            if let byte = byteTokenValue(token) {
                run.append(byte)
                continue
            }
            flushByteRun(&run, to: &out)
            for scalar in token.unicodeScalars {
                if scalar == "\u{2581}" { out.append(0x20) } else { UTF8.encode(scalar) { out.append($0) } }
            }
        }
        flushByteRun(&run, to: &out)
        if addPrefixSpace && out.first == 0x20 { out.removeFirst() }
        return String(decoding: out, as: UTF8.self)
    }

    /// The vocabulary strings of `ids` (`▁` for spaces, `<0xNN>` bytes), for display; an id outside the
    /// vocabulary shows as "".
    public func tokens(_ ids: [Int]) -> [String] {
        ids.map { tokenStrings.indices.contains($0) ? tokenStrings[$0] : "" }
    }

    /// Appends the BPE ids of `text`: added tokens first, then Metaspace, then merges.
    func appendPieces(of text: String, to ids: inout [Int]) {
        let scalars = Array(text.unicodeScalars)
        var symbols: [Int32] = []
        for segment in added.matcher.split(scalars) {
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                symbols.removeAll(keepingCapacity: true)
                let startsWithSpace = !range.isEmpty && (scalars[range.lowerBound] == " " || scalars[range.lowerBound] == "\u{2581}")
                let prefixed = switch prefixScheme {
                case .first: range.lowerBound == 0 && !startsWithSpace
                case .always: !startsWithSpace
                case .prepend: !range.isEmpty
                }
                if addPrefixSpace && prefixed {
                    appendSymbols(of: "\u{2581}", to: &symbols)
                }
                var lastWasUnknown = false
                for scalar in scalars[range] {
                    let s: Unicode.Scalar = scalar == " " ? "\u{2581}" : scalar
                    if let id = scalarTokens[s] {
                        symbols.append(id)
                        lastWasUnknown = false
                    } else if byteFallback, appendBytes(of: s, to: &symbols) {
                        lastWasUnknown = false
                    } else if let unk = unkTokenID {
                        // tokenizers' fuse_unk: consecutive unknown scalars are one `<unk>`.
                        if !lastWasUnknown { symbols.append(Int32(unk)) }
                        lastWasUnknown = true
                    }
                }
                merges.merge(&symbols)
                for id in symbols { ids.append(Int(id)) }
            }
        }
    }

    private func appendSymbols(of scalar: Unicode.Scalar, to symbols: inout [Int32]) {
        if let id = scalarTokens[scalar] { symbols.append(id) } else if byteFallback { _ = appendBytes(of: scalar, to: &symbols) }
    }

    /// Appends `<0xNN>` for each UTF-8 byte of `scalar`; false, appending nothing, when one is missing.
    private func appendBytes(of scalar: Unicode.Scalar, to symbols: inout [Int32]) -> Bool {
        var bytes: [Int32] = []
        var complete = true
        UTF8.encode(scalar) { byte in
            let id = byteTokenIDs[Int(byte)]
            if id < 0 { complete = false } else { bytes.append(id) }
        }
        if complete { symbols.append(contentsOf: bytes) }
        return complete
    }
}

// MARK: Merges from scores

/// transformers' `generate_merges(vocab, vocab_scores)` for a GGUF without merges: for each token in
/// id order (a repeated token at its first place, with its last score), every split into two tokens,
/// sorted by the ids of the halves; then all of them sorted, stably, by score, longer left half and
/// longer right half first. Lengths are in scalars, as Python's `len`.
func generatedMerges(tokens: [String], scores: [Float], vocabulary: [[UInt8]: Int32]) -> [(left: Int32, right: Int32, merged: Int32)] {
    // Python's dict(zip(tokens, scores)): first position, last score; keys compared by code points.
    var order: [String] = []
    var score: [[UInt8]: Float] = [:]
    order.reserveCapacity(tokens.count)
    for (token, s) in zip(tokens, scores) {
        if score.updateValue(s, forKey: Array(token.utf8)) == nil { order.append(token) }
    }
    struct Candidate { var left: Int32; var right: Int32; var merged: Int32; var score: Float; var leftLength: Int; var rightLength: Int }
    var candidates: [Candidate] = []
    for token in order {
        let scalars = Array(token.unicodeScalars)
        let bytes = Array(token.utf8)
        guard scalars.count > 1, let merged = vocabulary[bytes], let tokenScore = score[bytes] else { continue }
        var local: [Candidate] = []
        var cut = 0
        for index in 1..<scalars.count {
            cut += UTF8.width(scalars[index - 1])
            if let l = vocabulary[Array(bytes[..<cut])], let r = vocabulary[Array(bytes[cut...])] {
                local.append(Candidate(left: l, right: r, merged: merged, score: tokenScore, leftLength: index, rightLength: scalars.count - index))
            }
        }
        // Python's sorted is stable; Swift's sort is too (documented since Swift 5).
        local.sort { ($0.left, $0.right) < ($1.left, $1.right) }
        candidates.append(contentsOf: local)
    }
    // sorted(key=(score, len(l), len(r)), reverse=True): descending, ties keep their order.
    candidates.sort { a, b in
        if a.score != b.score { return a.score > b.score }
        if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
        return a.rightLength > b.rightLength
    }
    return candidates.map { ($0.left, $0.right, $0.merged) }
}

// MARK: Byte tokens

/// `<0xNN>` with upper-case hex, the spelling SentencePiece and llama.cpp use for byte tokens.
func byteTokenName(_ byte: UInt8) -> String {
    let hex = Array("0123456789ABCDEF".unicodeScalars)
    var view = String.UnicodeScalarView()
    view.append(contentsOf: ["<", "0", "x", hex[Int(byte >> 4)], hex[Int(byte & 15)], ">"])
    return String(view)
}

/// The byte of a token spelled `<0xNN>` (either case of hex, as tokenizers' ByteFallback decoder
/// parses it), else nil.
func byteTokenValue(_ token: String) -> UInt8? {
    let utf8 = token.utf8
    guard utf8.count == 6 else { return nil }
    let b = Array(utf8)
    guard b[0] == 0x3C, b[1] == 0x30, b[2] == 0x78, b[5] == 0x3E, let high = hexValue(b[3]), let low = hexValue(b[4]) else { return nil }
    return high << 4 | low
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x41...0x46: c - 0x41 + 10
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
}

/// Appends a run of `<0xNN>` bytes to `out` and empties it: as UTF-8 when the run is valid UTF-8 as a
/// whole, else one U+FFFD per byte (tokenizers' ByteFallback decoder).
func flushByteRun(_ run: inout [UInt8], to out: inout [UInt8]) {
    guard !run.isEmpty else { return }
    if validUTF8(run) {
        out.append(contentsOf: run)
    } else {
        for _ in run { out.append(contentsOf: [0xEF, 0xBF, 0xBD]) }
    }
    run.removeAll(keepingCapacity: true)
}

/// Whether `bytes` are valid UTF-8 as a whole.
func validUTF8(_ bytes: [UInt8]) -> Bool {
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue: continue
        case .emptyInput: return true
        case .error: return false
        }
    }
}
