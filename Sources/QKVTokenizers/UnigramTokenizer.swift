import QKVSchema

/// SentencePiece's Unigram model (XLM-RoBERTa, multilingual-e5, bge-m3, T5), id for id as Hugging Face
/// `tokenizers` runs the model's tokenizer.json.
///
/// The pipeline, read top to bottom in `appendPieces`: added tokens typed in the text (`<s>`, `<mask>`)
/// are found first; each stretch between them is normalized (the precompiled charsmap, then
/// `tokenizer.normalization`, then `tokenizer.strip`, then runs of spaces collapsed), its spaces become
/// `▁` with a dummy `▁` in front as `tokenizer.prefix_scheme` says, and it is cut into words before each
/// `▁` (Metaspace with `split`); each word is the most probable sequence of vocabulary pieces (Viterbi over
/// the scores, `tokenizers`' `encode_optimized`), a scalar with no piece costing the lowest score minus
/// 10 and consecutive unknown scalars fusing into one `<unk>` (or their `<0xNN>` bytes with byte fallback).
public struct UnigramTokenizer: PairTokenizer {
    /// The id `encode` puts first when `tokenizer.add_bos` is true (`<s>`), else nil.
    public let bosTokenID: Int?
    /// The id `encode` puts last when `tokenizer.add_eos` is true (`</s>`), else nil.
    public let eosTokenID: Int?
    /// The id of unknown text (`config.unk_token_id`), which the Unigram model requires.
    public let unkTokenID: Int
    /// Whether an unknown stretch becomes its `<0xNN>` byte tokens when all exist (`tokenizer.byte_fallback`).
    public let byteFallback: Bool
    /// The most ids `encode` returns, specials included: `tokenizer.max_length`, else the model's positions
    /// (an encoder's input is cut, as sentence-transformers cuts it, rather than refused).
    public let maxLength: Int
    /// Whether stretches get a dummy `▁` (`tokenizer.add_prefix_space`, absent: true) and which
    /// (`tokenizer.prefix_scheme`: `always`, or `first`).
    public let addPrefixSpace: Bool
    public let prefixScheme: SentencePieceBPETokenizer.PrefixScheme
    /// Whether the edge cases follow llama.cpp's Unigram (`tokenizer.unigram_rules = llama.cpp`, what a
    /// GGUF import sets) instead of Hugging Face tokenizers': the charsmap by longest match, a `▁` before
    /// every stretch that has a character other than a space, one Viterbi over the whole stretch, and the
    /// unknown token matched in the text like the added ones.
    public let llamaCppRules: Bool

    let charsmap: PrecompiledCharsmap?
    let normalization: UnicodeNormalization?
    let strip: (left: Bool, right: Bool)
    /// What a run of two or more spaces becomes (`tokenizer.collapse_spaces`: " " or "▁"); nil: kept.
    let collapseSpaces: Unicode.Scalar?
    /// Cut each normalized stretch at whitespace, dropping it, before Metaspace (`tokenizer.whitespace_split`:
    /// tokenizers' `WhitespaceSplit`, which transformers 5 puts before XLM-R's Metaspace).
    let whitespaceSplit: Bool
    let pieces: PieceTrie
    /// Each token's score, as `tokenizers` sums them (f64).
    let scores: [Double]
    /// The score of an unknown scalar: the lowest score minus 10 (`K_UNK_PENALTY`).
    let unknownScore: Double
    let byteTokenIDs: [Int32]
    let added: AddedTokens
    /// What `decode` leaves out: the special added tokens (type 3), as tokenizers' `skip_special_tokens`;
    /// an unknown token that is plain vocabulary decodes as its text.
    let skippedInDecode: Set<Int>
    let tokenStrings: [String]

    /// A tokenizer from a model file's Unigram data (`tokens`, `scores`; `token_types` for the added
    /// tokens) and its config.
    ///
    /// Options: `tokenizer.precompiled_charsmap` (base64), `tokenizer.normalization`, `tokenizer.strip`
    /// (`left`, `right`, `both`), `tokenizer.collapse_spaces`, `tokenizer.whitespace_split`, `tokenizer.add_prefix_space` (absent: true),
    /// `tokenizer.prefix_scheme` (`always` or `first`; absent: always), `tokenizer.unigram_rules`,
    /// `tokenizer.byte_fallback`, `tokenizer.add_bos`, `tokenizer.add_eos`, `tokenizer.max_length`.
    /// - Throws: `TokenizerError` when the data is not `unigram`, has no scores, the config has no
    ///   unknown token (or BOS/EOS to be added), an id is out of range, the charsmap cannot be read, or an
    ///   option is malformed.
    public init(data: TokenizerData, config: ModelConfig) throws(TokenizerError) {
        guard data.kind == .unigram else { throw .wrongKind(expected: .unigram, found: data.kind) }
        try checkSpecialTokens(config, tokenCount: data.tokens.count)
        guard let scores = data.scores else { throw .missingArray(key: "tokenizer.scores") }
        let options = BPEOptions(values: data.options)
        func required(_ token: ModelConfig.SpecialToken) throws(TokenizerError) -> Int {
            guard let id = config.specialTokens[token] else { throw .missingSpecialToken(token) }
            return id
        }
        unkTokenID = try required(.unk)
        bosTokenID = try options.bool("tokenizer.add_bos", default: false) ? try required(.bos) : nil
        eosTokenID = try options.bool("tokenizer.add_eos", default: false) ? try required(.eos) : nil
        byteFallback = try options.bool("tokenizer.byte_fallback", default: false)
        maxLength = try options.int("tokenizer.max_length", minimum: 1) ?? config.maxPositions
        addPrefixSpace = try options.bool("tokenizer.add_prefix_space", default: true)
        let scheme = try options.string("tokenizer.prefix_scheme") ?? "always"
        guard let prefixScheme = SentencePieceBPETokenizer.PrefixScheme(rawValue: scheme), prefixScheme != .prepend else {
            throw .invalidOption(key: "tokenizer.prefix_scheme", value: "'\(scheme)'", reason: "unigram takes always or first")
        }
        self.prefixScheme = prefixScheme
        normalization = try options.normalization()
        switch try options.string("tokenizer.unigram_rules") {
        case nil, "tokenizers": llamaCppRules = false
        case "llama.cpp": llamaCppRules = true
        case let other?: throw .invalidOption(key: "tokenizer.unigram_rules", value: "'\(other)'", reason: "expected tokenizers or llama.cpp")
        }
        switch try options.string("tokenizer.strip") {
        case nil: strip = (false, false)
        case "left": strip = (true, false)
        case "right": strip = (false, true)
        case "both": strip = (true, true)
        case let other?: throw .invalidOption(key: "tokenizer.strip", value: "'\(other)'", reason: "expected left, right or both")
        }
        switch try options.string("tokenizer.collapse_spaces") {
        case nil: collapseSpaces = nil
        case " ": collapseSpaces = " "
        case "\u{2581}": collapseSpaces = "\u{2581}"
        case let other?: throw .invalidOption(key: "tokenizer.collapse_spaces", value: "'\(other)'", reason: "expected \" \" or \"\u{2581}\"")
        }
        whitespaceSplit = try options.bool("tokenizer.whitespace_split", default: false)
        if let text = try options.string("tokenizer.precompiled_charsmap") {
            do {
                charsmap = try PrecompiledCharsmap(base64: text)
            } catch {
                throw .invalidOption(key: "tokenizer.precompiled_charsmap", value: "\(text.utf8.count) base64 characters", reason: error.reason)
            }
        } else {
            charsmap = nil
        }
        self.scores = scores.map(Double.init)
        unknownScore = (self.scores.min() ?? 0) - 10
        pieces = PieceTrie(data.tokens)
        let vocabulary = bpeVocabulary(data.tokens)
        byteTokenIDs = (0..<256).map { vocabulary[Array(byteTokenName(UInt8($0)).utf8)] ?? -1 }
        added = AddedTokens(data: data, config: config, configSpecials: false, addedTypes: llamaCppRules ? [2, 3, 4] : [3, 4])
        skippedInDecode = Set((data.tokenTypes ?? []).indices.filter { data.tokenTypes![$0] == 3 })
        tokenStrings = data.tokens
    }

    /// The ids of `text` as the file says (XLM-R: `<s> pieces </s>`), at most `maxLength`.
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        appendPieces(of: text, to: &ids)
        return wrapped(ids, bos: addSpecialTokens ? bosTokenID : nil, eos: addSpecialTokens ? eosTokenID : nil, maxLength: maxLength)
    }

    /// The pair as XLM-R's template writes it, `<s> A </s> </s> B </s>`, all of token type 0, cut to
    /// `maxLength` by tokenizers' `longest_first`.
    public func encodePair(_ first: String, _ second: String) -> (ids: [Int], typeIDs: [Int]) {
        var a: [Int] = [], b: [Int] = []
        appendPieces(of: first, to: &a)
        appendPieces(of: second, to: &b)
        return robertaPair(a, b, bos: bosTokenID, eos: eosTokenID, maxLength: maxLength)
    }

    /// The text of `ids` without the special added tokens, as tokenizers' Metaspace decoder: `▁` is a space,
    /// except in the first token kept, where it is dropped when a dummy prefix is added. With byte
    /// fallback a run of `<0xNN>` tokens is read as UTF-8 (sentencepiece's decoding; the tokenizer.json
    /// transformers converts has no ByteFallback step and prints them as they are spelled).
    public func decode(_ ids: [Int]) -> String {
        var out: [UInt8] = [], run: [UInt8] = []
        var first = true
        for id in ids where tokenStrings.indices.contains(id) && !skippedInDecode.contains(id) {
            let token = tokenStrings[id]
            if byteFallback, let byte = byteTokenValue(token) {
                run.append(byte)
                first = false
                continue
            }
            flushByteRun(&run, to: &out)
            for scalar in token.unicodeScalars {
                if scalar == "\u{2581}" {
                    if !(first && addPrefixSpace) { out.append(0x20) }
                } else {
                    UTF8.encode(scalar) { out.append($0) }
                }
            }
            first = false
        }
        flushByteRun(&run, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func tokens(_ ids: [Int]) -> [String] {
        ids.map { tokenStrings.indices.contains($0) ? tokenStrings[$0] : "" }
    }

    /// A stretch of text as the normalizers leave it: charsmap, Unicode form, strip, collapsed spaces.
    public func normalize(_ text: String) -> String { normalizeStretch(text).text }

    /// The normalized stretch, and whether its start was removed (a left strip, or a first grapheme the
    /// charsmap deletes): tokenizers' Metaspace `first` then sees a stretch that does not begin at the
    /// text's offset 0, and adds no prefix.
    func normalizeStretch(_ text: String) -> (text: String, startRemoved: Bool) {
        var text = text
        var startRemoved = false
        if let charsmap {
            if llamaCppRules {
                text = charsmap.normalizeLongestMatch(text)
            } else {
                if let first = text.first, charsmap.normalize(String(first)).isEmpty { startRemoved = true }
                text = charsmap.normalize(text)
            }
        }
        var scalars = Array(text.unicodeScalars)
        if let normalization { scalars = normalization.apply(scalars[...]) }
        if strip.right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
        if strip.left {
            let kept = scalars.firstIndex(where: { !$0.properties.isWhitespace }) ?? scalars.count
            if kept > 0 { startRemoved = true }
            scalars.removeFirst(kept)
        }
        if let replacement = collapseSpaces {
            var collapsed: [Unicode.Scalar] = []
            collapsed.reserveCapacity(scalars.count)
            var i = 0
            while i < scalars.count {
                var end = i
                while end < scalars.count && scalars[end] == " " { end += 1 }
                if end - i >= 2 {
                    collapsed.append(replacement)
                    i = end
                } else {
                    collapsed.append(scalars[i])
                    i += 1
                }
            }
            scalars = collapsed
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return (String(view), startRemoved)
    }

    /// Appends the piece ids of `text`: added tokens, then per stretch normalize, Metaspace, Viterbi.
    func appendPieces(of text: String, to ids: inout [Int]) {
        let scalars = Array(text.unicodeScalars)
        for segment in added.matcher.split(scalars) {
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[range])
                let (normalized, startRemoved) = normalizeStretch(String(view))
                let atTextStart = range.lowerBound == 0 && !startRemoved
                if llamaCppRules {
                    appendLlamaCppStretch(Array(normalized.utf8), to: &ids)
                    continue
                }
                guard whitespaceSplit else {
                    appendMetaspaceWords(Array(normalized.utf8), atTextStart: atTextStart, to: &ids)
                    continue
                }
                // WhitespaceSplit first: each run without whitespace is a stretch of its own for Metaspace.
                let normalizedScalars = Array(normalized.unicodeScalars)
                var i = 0
                while i < normalizedScalars.count {
                    guard !normalizedScalars[i].properties.isWhitespace else { i += 1; continue }
                    var end = i
                    while end < normalizedScalars.count && !normalizedScalars[end].properties.isWhitespace { end += 1 }
                    var word = String.UnicodeScalarView()
                    word.append(contentsOf: normalizedScalars[i..<end])
                    appendMetaspaceWords(Array(String(word).utf8), atTextStart: atTextStart && i == 0, to: &ids)
                    i = end
                }
            }
        }
    }

    /// llama.cpp's Unigram over one normalized stretch (UTF-8): spaces become `▁`, one `▁` goes in front
    /// when the stretch has a character other than a space (with the dummy prefix, or collapsed spaces,
    /// which llama.cpp puts before every word), and one Viterbi runs over all of it.
    func appendLlamaCppStretch(_ bytes: [UInt8], to ids: inout [Int]) {
        var stretch: [UInt8] = []
        stretch.reserveCapacity(bytes.count + 3)
        if (addPrefixSpace || collapseSpaces != nil) && bytes.contains(where: { $0 != 0x20 }) { stretch += metaspace }
        for byte in bytes {
            if byte == 0x20 { stretch += metaspace } else { stretch.append(byte) }
        }
        appendViterbi(stretch[...], to: &ids)
    }

    /// Metaspace over one stretch (UTF-8): spaces become `▁`, the dummy prefix goes in front as the scheme
    /// says (`first`: only at the text's start), and each word from one `▁` to the next goes to the Viterbi.
    func appendMetaspaceWords(_ bytes: [UInt8], atTextStart: Bool, to ids: inout [Int]) {
        var stretch = bytes
        for i in stretch.indices.reversed() where stretch[i] == 0x20 { stretch.replaceSubrange(i...i, with: metaspace) }
        guard !stretch.isEmpty else { return }
        let prefixed = prefixScheme == .first ? atTextStart : true
        if addPrefixSpace && prefixed && !stretch.starts(with: metaspace) { stretch.insert(contentsOf: metaspace, at: 0) }
        var start = 0
        var i = 0
        while i < stretch.count {
            if i > start && stretch[i...].starts(with: metaspace) {
                appendViterbi(stretch[start..<i], to: &ids)
                start = i
            }
            i += 1
        }
        appendViterbi(stretch[start...], to: &ids)
    }

    /// The best segmentation of `word` (UTF-8 of one pre-tokenized word), appended as ids.
    func appendViterbi(_ word: ArraySlice<UInt8>, to ids: inout [Int]) {
        guard !word.isEmpty else { return }
        let base = word.startIndex, size = word.count
        // best[e]: the best path over bytes [0, e): its score, where its last piece starts, which id.
        var bestScore = [Double](repeating: 0, count: size + 1)
        var bestStart = [Int](repeating: -1, count: size + 1)
        var bestID = [Int](repeating: 0, count: size + 1)
        var start = 0
        while start < size {
            let scoreHere = bestScore[start]
            let width = utf8Width(word[base + start])
            var hasSingle = false
            pieces.forEachPrefix(of: word[(base + start)...]) { length, id in
                let end = start + length, candidate = scores[id] + scoreHere
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = id
                }
                if length == width { hasSingle = true }
            }
            let end = min(start + width, size)
            if !hasSingle {
                let candidate = unknownScore + scoreHere
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = unkTokenID
                }
            }
            start = end
        }
        // Back from the end; consecutive unknown pieces fuse into one.
        var found: [(range: Range<Int>, unknown: Bool)] = []
        var end = size
        while end > 0 {
            let s = bestStart[end]
            if bestID[end] == unkTokenID, let last = found.last, last.unknown {
                found[found.count - 1].range = s..<last.range.upperBound
            } else {
                found.append((s..<end, bestID[end] == unkTokenID))
            }
            end = s
        }
        // Each piece's id by its text, as tokenizers looks it up (a fused unknown stretch may spell a token).
        for (range, _) in found.reversed() {
            let bytes = word[(base + range.lowerBound)..<(base + range.upperBound)]
            if let id = pieces.exact(bytes) {
                ids.append(id)
            } else if byteFallback, bytes.allSatisfy({ byteTokenIDs[Int($0)] >= 0 }) {
                for byte in bytes { ids.append(Int(byteTokenIDs[Int(byte)])) }
            } else {
                ids.append(unkTokenID)
            }
        }
    }
}

/// `▁` (U+2581) in UTF-8.
private let metaspace: [UInt8] = [0xE2, 0x96, 0x81]

/// The byte length of the UTF-8 sequence that `lead` starts (1 for a stray continuation byte).
private func utf8Width(_ lead: UInt8) -> Int {
    switch lead {
    case 0xF0...: 4
    case 0xE0...: 3
    case 0xC0...: 2
    default: 1
    }
}

/// The vocabulary as a byte trie, for the prefix searches of the Viterbi: edges in one table keyed by
/// (node, byte); a string that repeats maps to its last id, as `tokenizers`' `token_to_ids`.
struct PieceTrie: Sendable {
    private var edges: [Int: Int32] = [:]
    private var tokenAt: [Int32] = [-1]

    init(_ tokens: [String]) {
        for (id, token) in tokens.enumerated() {
            var node = 0
            for byte in token.utf8 {
                let key = node << 8 | Int(byte)
                if let next = edges[key] {
                    node = Int(next)
                } else {
                    edges[key] = Int32(tokenAt.count)
                    node = tokenAt.count
                    tokenAt.append(-1)
                }
            }
            if node != 0 { tokenAt[node] = Int32(id) }
        }
    }

    /// Calls `body(length, id)` for each token that is a prefix of `bytes`, shortest first.
    func forEachPrefix(of bytes: ArraySlice<UInt8>, _ body: (Int, Int) -> Void) {
        var node = 0, length = 0
        for byte in bytes {
            guard let next = edges[node << 8 | Int(byte)] else { return }
            node = Int(next)
            length += 1
            if tokenAt[node] >= 0 { body(length, Int(tokenAt[node])) }
        }
    }

    /// The id of the token spelled exactly `bytes`.
    func exact(_ bytes: ArraySlice<UInt8>) -> Int? {
        var node = 0
        for byte in bytes {
            guard let next = edges[node << 8 | Int(byte)] else { return nil }
            node = Int(next)
        }
        return node != 0 && tokenAt[node] >= 0 ? Int(tokenAt[node]) : nil
    }
}

// MARK: Pairs

/// A tokenizer that also writes a (query, document) pair the way its model was trained on pairs, with
/// the token type of each id (BERT: `[CLS] A [SEP] B [SEP]`, types 0 then 1).
public protocol PairTokenizer: Tokenizer {
    /// The ids and token types of the pair, truncated to the tokenizer's maximum length.
    func encodePair(_ first: String, _ second: String) -> (ids: [Int], typeIDs: [Int])
    /// Whether the file's tokenizer has a pair template (byte-level BPE: only RoBERTa's); `encodePair`
    /// means something only then.
    var writesPairs: Bool { get }
}

extension PairTokenizer {
    public var writesPairs: Bool { true }
}

/// (XLM-)RoBERTa's pair, `bos A eos eos B eos` (the specials there are), all of token type 0, the pieces
/// first cut to `maxLength` ids in all by `truncateLongestFirst`.
func robertaPair(_ a: [Int], _ b: [Int], bos: Int?, eos: Int?, maxLength: Int?) -> (ids: [Int], typeIDs: [Int]) {
    var a = a, b = b
    if let maxLength {
        truncateLongestFirst(&a, &b, room: maxLength - (bos == nil ? 0 : 1) - (eos == nil ? 0 : 3))
    }
    var ids: [Int] = []
    if let bos { ids.append(bos) }
    ids += a
    if let eos { ids += [eos, eos] }
    ids += b
    if let eos { ids.append(eos) }
    return (ids, Array(repeating: 0, count: ids.count))
}

/// Cuts `a` and `b` to at most `room` ids together as tokenizers' `longest_first` does: the longer one
/// first, down to the shorter's length, then both to half the room each (the odd one to the second).
func truncateLongestFirst(_ a: inout [Int], _ b: inout [Int], room limit: Int) {
    guard a.count + b.count > limit else { return }
    let room = max(limit, 0)
    var n1 = min(a.count, b.count), n2 = max(a.count, b.count)
    let swap = a.count > b.count
    n2 = n1 > room ? n1 : max(n1, room - n1)
    if n1 + n2 > room {
        n1 = room / 2
        n2 = n1 + room % 2
    }
    let (lengthA, lengthB) = swap ? (n2, n1) : (n1, n2)
    if a.count > lengthA { a.removeLast(a.count - lengthA) }
    if b.count > lengthB { b.removeLast(b.count - lengthB) }
}
