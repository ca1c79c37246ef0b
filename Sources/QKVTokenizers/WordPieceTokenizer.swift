import QKVSchema

/// BERT's WordPiece tokenizer, id for id as Hugging Face `tokenizers` runs a BERT tokenizer.json.
///
/// The pipeline is tokenizers' own, read top to bottom in `appendPieces`: special tokens typed in the
/// text are found first (the added vocabulary), each stretch between them is normalized
/// (`BertNormalizer`), split into words (BertPreTokenizer), and each word becomes word pieces
/// (WordPiece); `encode` then truncates and wraps the pieces in `[CLS] ... [SEP]`
/// (TemplateProcessing). The character data (classes, decompositions, combining classes) is tokenizers'
/// own, which is older than Swift's Unicode, so that every scalar is treated as the Rust library
/// treats it (`BertCharacterTables`).
public struct WordPieceTokenizer: PairTokenizer {
    /// `[CLS]`, which starts every encoded sequence.
    public let clsTokenID: Int
    /// `[SEP]`, which ends every encoded sequence.
    public let sepTokenID: Int
    /// `[UNK]`: a word with no split into vocabulary pieces, or longer than `maxWordScalars`.
    public let unkTokenID: Int
    /// `[PAD]`, for callers that pad batches; nil when the config names none.
    public let padTokenID: Int?
    /// The most ids `encode` returns, `[CLS]` and `[SEP]` included: `tokenizer.max_length`
    /// (sentence-transformers' max_seq_length, 256 for all-MiniLM-L6-v2), else the model's positions.
    public let maxLength: Int
    /// A word of more scalars than this is `[UNK]` (`tokenizer.max_word_chars`, tokenizers'
    /// max_input_chars_per_word); nil: no limit.
    public let maxWordScalars: Int?

    let normalizer: BertNormalizer
    let specials: SpecialTokenMatcher
    let vocabulary: WordPieceVocabulary
    let tokenStrings: [String]

    /// A tokenizer from a model file's WordPiece data and the special token ids of its config.
    ///
    /// The options are the schema's `tokenizer.*` keys: absent bools are false; an absent
    /// `continuing_prefix` is `##`; absent `max_word_chars` means no limit; absent `max_length` means
    /// `config.max_positions`. Every special token the config names (`[CLS]`, `[SEP]`, `[PAD]`,
    /// `[UNK]`, `[MASK]`) is recognised when typed in the text, as tokenizer.json's added tokens are.
    /// - Throws: `TokenizerError` when the data is not WordPiece, when the config lacks the
    ///   `[CLS]`, `[SEP]` or `[UNK]` id or an id is outside the vocabulary, or when an option is
    ///   malformed or `max_length` leaves no room for `[CLS]` and `[SEP]`.
    public init(data: TokenizerData, config: ModelConfig) throws(TokenizerError) {
        guard data.kind == .wordpiece else { throw .wrongKind(expected: .wordpiece, found: data.kind) }
        for (token, id) in config.specialTokens.sorted(by: { $0.key < $1.key }) where !data.tokens.indices.contains(id) {
            throw .specialTokenOutOfRange(token, id: id, tokenCount: data.tokens.count)
        }
        func required(_ token: ModelConfig.SpecialToken) throws(TokenizerError) -> Int {
            guard let id = config.specialTokens[token] else { throw .missingSpecialToken(token) }
            return id
        }
        clsTokenID = try required(.cls)
        sepTokenID = try required(.sep)
        unkTokenID = try required(.unk)
        padTokenID = config.specialTokens[.pad]

        let options = Options(data.options)
        normalizer = BertNormalizer(
            cleanText: try options.bool("tokenizer.clean_text"),
            handleChineseChars: try options.bool("tokenizer.chinese_chars"),
            stripAccents: try options.bool("tokenizer.strip_accents"),
            lowercase: try options.bool("tokenizer.lowercase"))
        maxWordScalars = try options.int("tokenizer.max_word_chars", minimum: 1)
        // TemplateProcessing adds [CLS] and [SEP]; tokenizers truncates the pieces to max_length - 2.
        maxLength = try options.int("tokenizer.max_length", minimum: 2) ?? config.maxPositions
        let prefix = try options.string("tokenizer.continuing_prefix") ?? "##"

        tokenStrings = data.tokens
        vocabulary = WordPieceVocabulary(tokens: data.tokens, continuingPrefix: prefix)
        specials = SpecialTokenMatcher(config.specialTokens.values.sorted().map { (data.tokens[$0], $0) })
    }

    /// The ids of `text` as `[CLS] pieces [SEP]`, at most `maxLength` of them.
    ///
    /// As tokenizers with truncation on: the word pieces are cut to `maxLength - 2` (possibly inside a
    /// word), then `[CLS]` and `[SEP]` are added. Special tokens typed in the text count as pieces.
    public func encode(_ text: String) -> [Int] {
        var ids = [clsTokenID]
        appendPieces(of: text, to: &ids, limit: maxLength - 2)
        ids.append(sepTokenID)
        return ids
    }

    /// The word piece ids of `text`, without `[CLS]`/`[SEP]` and without truncation.
    ///
    /// Special tokens typed in the text are still recognised, as tokenizers does with
    /// `add_special_tokens=False`.
    public func encodeWithoutSpecials(_ text: String) -> [Int] {
        var ids: [Int] = []
        appendPieces(of: text, to: &ids, limit: .max)
        return ids
    }

    /// The vocabulary strings of `ids` (`##` continuations included), for display; an id outside the
    /// vocabulary shows as `[UNK]`'s string.
    public func tokens(_ ids: [Int]) -> [String] {
        ids.map { tokenStrings.indices.contains($0) ? tokenStrings[$0] : tokenStrings[unkTokenID] }
    }

    /// `text` as the normalizer leaves it, the whole text at once as tokenizers' `normalize_str` does
    /// (`encode` normalizes the stretches between special tokens separately), for inspection and tests.
    public func normalize(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: normalizer.normalize(text.unicodeScalars))
        return String(view)
    }

    /// Appends at most `limit` piece ids for `text`.
    ///
    /// Stops early once `limit` pieces are out: text further on cannot change earlier pieces (each
    /// stretch and word is tokenized on its own), so a long text costs only what is kept, plus its
    /// normalization.
    func appendPieces(of text: String, to ids: inout [Int], limit: Int) {
        let end = ids.count > Int.max - limit ? Int.max : ids.count + limit
        let scalars = Array(text.unicodeScalars)
        // 1. The added vocabulary: special tokens matched in the raw text, before any normalization.
        for segment in specials.split(scalars) {
            guard ids.count < end else { break }
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                // 2. Normalize this stretch, 3. pre-tokenize it into words, 4. WordPiece each word.
                let normalized = normalizer.normalize(scalars[range])
                for word in bertWords(normalized) {
                    guard ids.count < end else { break }
                    if let maxWordScalars, word.count > maxWordScalars {
                        ids.append(unkTokenID)
                    } else {
                        vocabulary.appendPieces(of: normalized[word], unknown: unkTokenID, to: &ids)
                    }
                }
            }
        }
        if ids.count > end { ids.removeLast(ids.count - end) }
    }
}

// MARK: WordPiece

/// The vocabulary as WordPiece looks it up: by UTF-8 bytes (tokenizers compares Rust strings byte for
/// byte; Swift `String` equality would merge canonically equivalent tokens such as "é" and "e\u{301}").
struct WordPieceVocabulary: Sendable {
    /// Every token, for a word's first piece.
    let whole: [ArraySlice<UInt8>: Int]
    /// Tokens that start with the continuing prefix, keyed by what follows it, for the other pieces.
    let continuations: [ArraySlice<UInt8>: Int]
    /// The longest key of each table in scalars: no longer stretch can match, so the search starts there.
    let longestWhole: Int
    let longestContinuation: Int

    init(tokens: [String], continuingPrefix: String) {
        let prefix = Array(continuingPrefix.utf8)
        var whole: [ArraySlice<UInt8>: Int] = [:], continuations: [ArraySlice<UInt8>: Int] = [:]
        whole.reserveCapacity(tokens.count)
        var longestWhole = 0, longestContinuation = 0
        // A repeated token keeps its last id, as tokenizers' vocab.txt reader does.
        for (id, token) in tokens.enumerated() {
            let bytes = Array(token.utf8)
            whole[bytes[...]] = id
            longestWhole = max(longestWhole, token.unicodeScalars.count)
            if bytes.starts(with: prefix) {
                continuations[bytes[prefix.count...]] = id
                longestContinuation = max(longestContinuation, token.unicodeScalars.count - continuingPrefix.unicodeScalars.count)
            }
        }
        self.whole = whole
        self.continuations = continuations
        self.longestWhole = longestWhole
        self.longestContinuation = longestContinuation
    }

    /// Greedy longest-match-first (tokenizers/src/models/wordpiece/mod.rs `tokenize`): the longest
    /// vocabulary prefix of the word, then the longest `##` continuation of the rest, and so on; when
    /// some rest has no continuation at all, the whole word is one `unknown`.
    func appendPieces(of word: ArraySlice<Unicode.Scalar>, unknown: Int, to ids: inout [Int]) {
        // The word's UTF-8 bytes and the byte offset where each scalar starts (plus the end).
        var bytes: [UInt8] = []
        var starts: [Int] = []
        bytes.reserveCapacity(word.count * 2)
        starts.reserveCapacity(word.count + 1)
        for scalar in word {
            starts.append(bytes.count)
            UTF8.encode(scalar) { bytes.append($0) }
        }
        starts.append(bytes.count)

        let first = ids.count
        let n = word.count
        var start = 0
        while start < n {
            let table = start == 0 ? whole : continuations
            var end = min(n, start + (start == 0 ? longestWhole : longestContinuation))
            var match: Int?
            while end > start {
                if let id = table[bytes[starts[start]..<starts[end]]] { match = id; break }
                end -= 1
            }
            guard let id = match else {
                ids.removeSubrange(first...)
                ids.append(unknown)
                return
            }
            ids.append(id)
            start = end
        }
    }
}

// MARK: Special tokens in the text

/// tokenizers' added vocabulary for a BERT tokenizer.json: the special tokens (`normalized: false`,
/// no lstrip/rstrip/single_word) matched in the raw text, leftmost first and longest at a position,
/// before normalization; the text between matches is tokenized stretch by stretch. So "[MASK]" is one
/// id but "[mask]" is three pieces: "[", "mask", "]".
struct SpecialTokenMatcher: Sendable {
    enum Segment: Equatable { case text(Range<Int>), special(Int) }

    /// The tokens as scalars with their ids, longest first; the first id of a repeated string wins.
    let tokens: [(scalars: [Unicode.Scalar], id: Int)]
    /// The scalars a token can start with, to skip the rest quickly.
    let firstScalars: Set<Unicode.Scalar>
    /// Ids of tokens that take the whitespace before them (`lstrip`) or after them (`rstrip`) with
    /// them, as Hugging Face added tokens do: that whitespace is tokenized with nothing.
    let lstrip: Set<Int>, rstrip: Set<Int>

    init(_ tokens: [(String, Int)], lstrip: Set<Int> = [], rstrip: Set<Int> = []) {
        self.lstrip = lstrip
        self.rstrip = rstrip
        var seen = Set<[Unicode.Scalar]>()
        var list: [(scalars: [Unicode.Scalar], id: Int)] = []
        for (text, id) in tokens {
            let scalars = Array(text.unicodeScalars)
            if !scalars.isEmpty && seen.insert(scalars).inserted { list.append((scalars, id)) }
        }
        self.tokens = list.enumerated().sorted { a, b in
            a.element.scalars.count != b.element.scalars.count ? a.element.scalars.count > b.element.scalars.count : a.offset < b.offset
        }.map(\.element)
        firstScalars = Set(list.map { $0.scalars[0] })
    }

    /// `scalars` cut into special tokens and the text stretches between them (empty stretches left out).
    func split(_ scalars: [Unicode.Scalar]) -> [Segment] {
        var segments: [Segment] = []
        var textStart = 0, i = 0
        search: while i < scalars.count {
            if firstScalars.contains(scalars[i]) {
                for token in tokens where scalars.count - i >= token.scalars.count
                    && scalars[i..<i + token.scalars.count].elementsEqual(token.scalars) {
                    var textEnd = i
                    if lstrip.contains(token.id) {
                        while textEnd > textStart && scalars[textEnd - 1].properties.isWhitespace { textEnd -= 1 }
                    }
                    if textStart < textEnd { segments.append(.text(textStart..<textEnd)) }
                    segments.append(.special(token.id))
                    i += token.scalars.count
                    if rstrip.contains(token.id) {
                        while i < scalars.count && scalars[i].properties.isWhitespace { i += 1 }
                    }
                    textStart = i
                    continue search
                }
            }
            i += 1
        }
        if textStart < scalars.count { segments.append(.text(textStart..<scalars.count)) }
        return segments
    }
}

// MARK: Options

/// Typed reads of `tokenizer.*` options.
private struct Options {
    let values: [String: MetadataValue]
    init(_ values: [String: MetadataValue]) { self.values = values }

    func bool(_ key: String) throws(TokenizerError) -> Bool {
        switch values[key] {
        case nil: return false
        case .bool(let b)?: return b
        case let value?: throw .invalidOption(key: key, value: "\(value)", reason: "expected a bool")
        }
    }

    func string(_ key: String) throws(TokenizerError) -> String? {
        switch values[key] {
        case nil: return nil
        case .string(let s)?: return s
        case let value?: throw .invalidOption(key: key, value: "\(value)", reason: "expected a string")
        }
    }

    func int(_ key: String, minimum: Int64) throws(TokenizerError) -> Int? {
        switch values[key] {
        case nil: return nil
        case .int(let n)? where n >= minimum && n <= Int64(Int32.max): return Int(n)
        case let value?: throw .invalidOption(key: key, value: "\(value)", reason: "expected an int from \(minimum) to \(Int32.max)")
        }
    }
}
