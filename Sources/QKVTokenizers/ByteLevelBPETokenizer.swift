import QKVSchema

/// Byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek, StarCoder, ...), id for id as Hugging Face
/// `tokenizers` runs the model's tokenizer.json.
///
/// The pipeline, read top to bottom in `appendPieces`: added tokens typed in the text (`<|endoftext|>`)
/// are found first; each stretch between them is cut into words by the pre-tokenizer (`PreTokenizer`:
/// GPT-2's regex unless the file names another with `tokenizer.pre_split` or `tokenizer.pre`); each
/// word's UTF-8 bytes start as one symbol per byte (the byte's printable stand-in in GPT-2's
/// `bytes_to_unicode` alphabet) and are merged by rank (`BPEMerges`), unless `tokenizer.ignore_merges`
/// is set and the whole word is a token. GPT-2 adds no BOS or EOS unless the file's
/// `tokenizer.add_bos`/`add_eos` say so. There is no word cache: the tokenizer is a plain immutable
/// value, safe to share between threads.
public struct ByteLevelBPETokenizer: PairTokenizer {
    /// The id `encode` puts first when `tokenizer.add_bos` is true, else nil.
    public let bosTokenID: Int?
    /// The id `encode` puts last when `tokenizer.add_eos` is true, else nil.
    public let eosTokenID: Int?
    /// Whether each stretch of text gets a leading space when it has none (`tokenizer.add_prefix_space`,
    /// the ByteLevel pre-tokenizer's `add_prefix_space`), so a first word is spelled as a later one.
    public let addPrefixSpace: Bool
    /// The most ids `encode` returns, specials included (`tokenizer.max_length`); nil: no limit.
    public let maxLength: Int?
    /// Whether the file gives pairs a template (`tokenizer.pair_template`: `roberta`, RoBERTa's
    /// `<s> A </s> </s> B </s>`); GPT-2's and the other decoders' BPE have none.
    public let writesPairs: Bool
    /// How text is cut into words before merging.
    public let preTokenizer: PreTokenizer
    /// Whether a word that is a token as a whole is that token, merges skipped (Llama 3's
    /// `ignore_merges`; `tokenizer.ignore_merges`).
    public let ignoreMerges: Bool
    /// The Unicode normalization applied to the text between added tokens (`tokenizer.normalization`).
    public let normalization: UnicodeNormalization?

    let merges: BPEMerges
    /// Token UTF-8 (in the byte alphabet) -> id, for `ignoreMerges`.
    let vocabulary: [[UInt8]: Int32]
    /// The token of each byte's stand-in character; -1 when the vocabulary lacks it (the byte is then
    /// dropped, as tokenizers does for a BPE without an unknown token).
    let byteTokenIDs: [Int32]
    let added: AddedTokens
    let tokenStrings: [String]
    /// Each token's bytes as the ByteLevel decoder gives them: its characters mapped back through
    /// `bytes_to_unicode`, or its own UTF-8 when some character is outside that alphabet.
    let tokenBytes: [[UInt8]]

    /// A tokenizer from a model file's byte-level BPE data (`tokens`, `merges`) and its config.
    ///
    /// Options: `tokenizer.add_prefix_space`, `tokenizer.add_bos`, `tokenizer.add_eos` (absent: false,
    /// as GPT-2's tokenizer.json), `tokenizer.max_length`, `tokenizer.pre_split` (the split regexes) or
    /// `tokenizer.pre` (a llama.cpp pre-tokenizer name; absent: GPT-2's regex), `tokenizer.ignore_merges`. The tokens recognised whole in the text are
    /// the config's special tokens and, when the data has token types, the control (3) and user-defined
    /// (4) tokens, as transformers adds them from a GGUF.
    /// - Throws: `TokenizerError` when the data is not `bpe`, has no merges or a merge that is not two
    ///   tokens merging into a third, a special token id is out of range, `add_bos`/`add_eos` is set
    ///   without the config's id, an option is malformed, the pre-tokenizer name is unknown or a split
    ///   regex does not compile.
    public init(data: TokenizerData, config: ModelConfig) throws(TokenizerError) {
        guard data.kind == .bpe else { throw .wrongKind(expected: .bpe, found: data.kind) }
        try checkSpecialTokens(config, tokenCount: data.tokens.count)
        guard let mergeList = data.merges else { throw .missingArray(key: "tokenizer.merges") }
        let options = BPEOptions(values: data.options)
        addPrefixSpace = try options.bool("tokenizer.add_prefix_space", default: false)
        maxLength = try options.int("tokenizer.max_length", minimum: 1)
        bosTokenID = try options.bool("tokenizer.add_bos", default: false) ? try required(.bos, config) : nil
        eosTokenID = try options.bool("tokenizer.add_eos", default: false) ? try required(.eos, config) : nil
        writesPairs = data.options["tokenizer.pair_template"] != nil
        if writesPairs && (bosTokenID == nil || eosTokenID == nil) {
            throw .invalidOption(key: "tokenizer.pair_template", value: "roberta", reason: "needs tokenizer.add_bos and tokenizer.add_eos")
        }
        preTokenizer = try options.preTokenizer()
        ignoreMerges = try options.bool("tokenizer.ignore_merges", default: false)
        normalization = try options.normalization()

        let vocabulary = bpeVocabulary(data.tokens)
        self.vocabulary = vocabulary
        merges = BPEMerges(pairs: try bpeMergePairs(mergeList, vocabulary: vocabulary))
        byteTokenIDs = gpt2ByteToUnicode.map { vocabulary[Array(String(Character($0)).utf8)] ?? -1 }
        added = AddedTokens(data: data, config: config)
        tokenStrings = data.tokens
        tokenBytes = data.tokens.map { token in
            var bytes: [UInt8] = []
            for scalar in token.unicodeScalars {
                guard scalar.value < UInt32(gpt2UnicodeToByte.count), gpt2UnicodeToByte[Int(scalar.value)] >= 0 else {
                    return Array(token.utf8)
                }
                bytes.append(UInt8(gpt2UnicodeToByte[Int(scalar.value)]))
            }
            return bytes
        }
    }

    /// The pair as RoBERTa's template writes it, `<s> A </s> </s> B </s>` (BOS, then EOS three times), all
    /// of token type 0, the pieces cut to `maxLength` by tokenizers' `longest_first`. Meaningful only
    /// when `writesPairs`: a file without a pair template gets its BOS/EOS, if any, the same way.
    public func encodePair(_ first: String, _ second: String) -> (ids: [Int], typeIDs: [Int]) {
        var a: [Int] = [], b: [Int] = []
        appendPieces(of: first, to: &a)
        appendPieces(of: second, to: &b)
        return robertaPair(a, b, bos: bosTokenID, eos: eosTokenID, maxLength: maxLength)
    }

    /// The ids of `text`, with BOS/EOS when the file asks for them (GPT-2's does not).
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    /// The ids of `text`, with or without the BOS/EOS the file asks for, at most `maxLength` of them.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var pieces: [Int] = []
        appendPieces(of: text, to: &pieces)
        return addSpecialTokens
            ? wrapped(pieces, bos: bosTokenID, eos: eosTokenID, maxLength: maxLength)
            : wrapped(pieces, bos: nil, eos: nil, maxLength: maxLength)
    }

    /// The text of `ids` without special tokens (`<|endoftext|>`), as tokenizers'
    /// `decode(ids, skip_special_tokens=True)`.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }

    /// The text of `ids`: every token's bytes (`tokenBytes`) joined and read as UTF-8, each maximal
    /// invalid stretch one U+FFFD, as Rust's `from_utf8_lossy` in the ByteLevel decoder. Ids outside
    /// the vocabulary are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids where tokenBytes.indices.contains(id) {
            if skipSpecialTokens && added.special.contains(id) { continue }
            bytes.append(contentsOf: tokenBytes[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The vocabulary strings of `ids` (in GPT-2's byte alphabet: `Ġ` is a space), for display; an id
    /// outside the vocabulary shows as "".
    public func tokens(_ ids: [Int]) -> [String] {
        ids.map { tokenStrings.indices.contains($0) ? tokenStrings[$0] : "" }
    }

    /// Appends the BPE ids of `text`: added tokens first, then regex words, then merges.
    func appendPieces(of text: String, to ids: inout [Int]) {
        let scalars = Array(text.unicodeScalars)
        var symbols: [Int32] = []
        var wordBytes: [UInt8] = []
        for segment in added.matcher.split(scalars) {
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                var stretch = scalars[range]
                if let normalization { stretch = normalization.apply(stretch)[...] }
                if addPrefixSpace && stretch.first != " " { stretch = [" "] + stretch }
                preTokenizer.split(stretch) { word in
                    wordBytes.removeAll(keepingCapacity: true)
                    for scalar in word { UTF8.encode(scalar) { wordBytes.append($0) } }
                    if ignoreMerges, let id = wholeWordToken(wordBytes) {
                        ids.append(Int(id))
                        return
                    }
                    symbols.removeAll(keepingCapacity: true)
                    for byte in wordBytes where byteTokenIDs[Int(byte)] >= 0 { symbols.append(byteTokenIDs[Int(byte)]) }
                    merges.merge(&symbols)
                    for id in symbols { ids.append(Int(id)) }
                }
            }
        }
    }

    /// The token whose byte-alphabet spelling is `bytes`, if any.
    private func wholeWordToken(_ bytes: [UInt8]) -> Int32? {
        var key: [UInt8] = []
        key.reserveCapacity(bytes.count * 2)
        for byte in bytes { UTF8.encode(gpt2ByteToUnicode[Int(byte)]) { key.append($0) } }
        return vocabulary[key]
    }

    /// The words the pre-tokenizer cuts `text` into, as strings, for inspection and tests.
    public func words(_ text: String) -> [String] { preTokenizer.words(text) }
}

private func required(_ token: ModelConfig.SpecialToken, _ config: ModelConfig) throws(TokenizerError) -> Int {
    guard let id = config.specialTokens[token] else { throw .missingSpecialToken(token) }
    return id
}

// MARK: GPT-2's byte alphabet

/// `bytes_to_unicode()` of GPT-2's encoder.py: the printable bytes `!`...`~`, `¡`...`¬`, `®`...`ÿ` stand
/// for themselves, the other 68 bytes for U+0100... in byte order, so every byte is a visible character.
let gpt2ByteToUnicode: [Unicode.Scalar] = {
    let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    let keep = Set(printable)
    var map = [Unicode.Scalar](repeating: " ", count: 256)
    var next = 0x100
    for byte in 0..<256 {
        if keep.contains(byte) {
            map[byte] = Unicode.Scalar(UInt32(byte))!
        } else {
            map[byte] = Unicode.Scalar(UInt32(next))!
            next += 1
        }
    }
    return map
}()

/// The inverse map, indexed by scalar value (all stand-ins are below U+0144); -1: not a stand-in.
let gpt2UnicodeToByte: [Int16] = {
    var map = [Int16](repeating: -1, count: 0x144)
    for (byte, scalar) in gpt2ByteToUnicode.enumerated() { map[Int(scalar.value)] = Int16(byte) }
    return map
}()

// MARK: GPT-2's pre-tokenizer regex

/// How GPT-2's regex sees a scalar: `\p{L}`, `\p{N}`, `\s` (Unicode White_Space), or none of them.
enum GPT2ScalarClass: UInt8 { case letter, number, whitespace, other }

private let asciiClasses: [GPT2ScalarClass] = (0..<128).map { value in
    switch value {
    case 0x09...0x0D, 0x20: .whitespace
    case 0x30...0x39: .number
    case 0x41...0x5A, 0x61...0x7A: .letter
    default: .other
    }
}

/// Every non-ASCII scalar range of `GPT2CharacterTables` with its class, sorted, for one binary search.
private let gpt2ClassRanges: (starts: [UInt32], ends: [UInt32], classes: [GPT2ScalarClass]) = {
    let all = (gpt2LetterRanges.map { ($0, GPT2ScalarClass.letter) } + gpt2NumberRanges.map { ($0, .number) }
        + gpt2WhitespaceRanges.map { ($0, .whitespace) }).sorted { $0.0.lowerBound < $1.0.lowerBound }
    return (all.map(\.0.lowerBound), all.map(\.0.upperBound), all.map(\.1))
}()

/// The class of `scalar` as the Oniguruma inside tokenizers sees it: from its own Unicode data
/// (`GPT2CharacterTables`, generated by tools/fixtures_bpe.py), not Swift's, which is newer and calls
/// some scalars letters that Oniguruma does not (U+088F, U+A7CE, ...).
@inline(__always) func gpt2Class(_ scalar: Unicode.Scalar) -> GPT2ScalarClass {
    let value = scalar.value
    if value < 128 { return asciiClasses[Int(value)] }
    let table = gpt2ClassRanges
    // The last range starting at or before `value`.
    var low = 0, high = table.starts.count
    while low < high {
        let mid = (low + high) / 2
        if table.starts[mid] <= value { low = mid + 1 } else { high = mid }
    }
    guard low > 0, value <= table.ends[low - 1] else { return .other }
    return table.classes[low - 1]
}

/// Calls `body` with each match of GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over `text`, in order;
/// the matches tile the text.
///
/// At each position the alternatives are tried in the pattern's order, each as greedy as the regex:
/// a contraction (lowercase only, as the pattern is case-sensitive); else a run of one class, with one
/// leading U+0020 when a space is followed by a non-space; else a whitespace run, which leaves its last
/// scalar to the next word when a non-space follows and the run is longer than one (`\s+(?!\S)`
/// backtracks by one), so "  word" is "␠" + "␠word".
func gpt2Words(_ text: ArraySlice<Unicode.Scalar>, _ body: (ArraySlice<Unicode.Scalar>) -> Void) {
    let end = text.endIndex
    var i = text.startIndex
    while i < end {
        let c = text[i]
        var j: Int
        if c == "'", let length = contractionLength(text, at: i) {
            j = i + length
        } else if c == " ", i + 1 < end, gpt2Class(text[i + 1]) != .whitespace {
            let kind = gpt2Class(text[i + 1])
            j = i + 2
            while j < end && gpt2Class(text[j]) == kind { j += 1 }
        } else {
            let kind = gpt2Class(c)
            j = i + 1
            while j < end && gpt2Class(text[j]) == kind { j += 1 }
            if kind == .whitespace && j < end && j - i >= 2 { j -= 1 }
        }
        body(text[i..<j])
        i = j
    }
}

/// The length of the contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `i`, if any.
@inline(__always) private func contractionLength(_ text: ArraySlice<Unicode.Scalar>, at i: Int) -> Int? {
    guard i + 1 < text.endIndex else { return nil }
    switch text[i + 1] {
    case "s", "t", "m", "d": return 2
    case "r", "v":
        return i + 2 < text.endIndex && text[i + 2] == "e" ? 3 : nil
    case "l":
        return i + 2 < text.endIndex && text[i + 2] == "l" ? 3 : nil
    default: return nil
    }
}
