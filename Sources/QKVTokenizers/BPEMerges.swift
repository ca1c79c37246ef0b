import QKVSchema

// The parts both BPE tokenizers share: the merge table and the merge loop (tokenizers'
// `models/bpe/word.rs`), the added tokens matched in the text, and typed option reads.

// MARK: Merges

/// A BPE merge table: for each pair of adjacent token ids, the rank of the merge (lower merges first)
/// and the id of the merged token, as tokenizers' `MergeMap`.
struct BPEMerges: Sendable {
    /// `(left << 32) | right` -> `(rank, merged id)`.
    let table: [UInt64: Merge]

    struct Merge: Sendable { var rank: Int32; var id: Int32 }

    @inline(__always) static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The table of `pairs`, the first pair the highest priority. A pair listed twice keeps its last
    /// rank, as tokenizers' `HashMap` collect does.
    init(pairs: [(left: Int32, right: Int32, merged: Int32)]) {
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, pair) in pairs.enumerated() {
            table[Self.key(pair.left, pair.right)] = Merge(rank: Int32(truncatingIfNeeded: rank), id: pair.merged)
        }
        self.table = table
    }

    /// Merges `symbols` in place until no adjacent pair has a merge: always the pair of lowest rank,
    /// leftmost among equal ranks.
    ///
    /// tokenizers' `Word::merge_all` step for step (a heap of candidate merges, stale entries skipped
    /// when the pair at their position no longer yields their merged id), so ties and overlaps ("aaa")
    /// resolve exactly as there, in O(n log n) for a word of n symbols: a LLaMA prompt is one word.
    func merge(_ symbols: inout [Int32]) {
        let n = symbols.count
        guard n > 1 else { return }
        if n == 2 {
            if let m = table[Self.key(symbols[0], symbols[1])] { symbols = [m.id] }
            return
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = Int32(i) - 1 }
            count = n
        }
        var next = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = i + 1 < n ? Int32(i + 1) : -1 }
            count = n
        }
        var removed = [Bool](repeating: false, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = table[Self.key(symbols[i], symbols[i + 1])] { heap.push(.init(rank: m.rank, position: Int32(i), id: m.id)) }
        }
        while let top = heap.pop() {
            let pos = Int(top.position)
            guard !removed[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // A stale entry: the pair here has changed since it was pushed.
            guard let m = table[Self.key(symbols[pos], symbols[right])], m.id == top.id else { continue }
            symbols[pos] = top.id
            removed[right] = true
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            if prev[pos] >= 0, let m = table[Self.key(symbols[Int(prev[pos])], symbols[pos])] {
                heap.push(.init(rank: m.rank, position: prev[pos], id: m.id))
            }
            if after >= 0, let m = table[Self.key(symbols[pos], symbols[Int(after)])] {
                heap.push(.init(rank: m.rank, position: Int32(pos), id: m.id))
            }
        }
        var out = 0
        for i in 0..<n where !removed[i] {
            symbols[out] = symbols[i]
            out += 1
        }
        symbols.removeLast(n - out)
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position), tokenizers' `Merge` order.
struct MergeHeap {
    struct Entry { var rank: Int32; var position: Int32; var id: Int32 }
    private var items: [Entry] = []

    @inline(__always) private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(_ entry: Entry) {
        items.append(entry)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        let count = items.count
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < count && Self.less(items[left], items[smallest]) { smallest = left }
            if right < count && Self.less(items[right], items[smallest]) { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

// MARK: Vocabulary and merge list

/// The vocabulary as BPE looks it up: token UTF-8 bytes -> id, a repeated token keeping its last id (as
/// a Python `{token: id}` dict built in id order does). Keyed by bytes because Swift `String` equality
/// is canonical equivalence: LLaMA's vocabulary has both "ά" (U+03AC) and "ά" (U+03B1 U+0301).
func bpeVocabulary(_ tokens: [String]) -> [[UInt8]: Int32] {
    var vocabulary: [[UInt8]: Int32] = [:]
    vocabulary.reserveCapacity(tokens.count)
    for (id, token) in tokens.enumerated() { vocabulary[Array(token.utf8)] = Int32(id) }
    return vocabulary
}

/// `tokenizer.merges` (`"left right"`, highest priority first) as id pairs.
///
/// - Throws: `TokenizerError.invalidMerge` for an entry that is not two tokens of the vocabulary
///   whose concatenation is a token too, as tokenizers refuses such a file.
func bpeMergePairs(_ merges: [String], vocabulary: [[UInt8]: Int32]) throws(TokenizerError) -> [(left: Int32, right: Int32, merged: Int32)] {
    var pairs: [(left: Int32, right: Int32, merged: Int32)] = []
    pairs.reserveCapacity(merges.count)
    for (index, merge) in merges.enumerated() {
        // The usual case has one space; a token holding a space itself (possible in SentencePiece
        // vocabularies imported from tokenizer.json pairs) is found by trying every space.
        let bytes = Array(merge.utf8)
        var found: (Int32, Int32, Int32)?
        for space in bytes.indices where found == nil && bytes[space] == 0x20 {
            let left = Array(bytes[..<space]), right = Array(bytes[(space + 1)...])
            if let l = vocabulary[left], let r = vocabulary[right], let m = vocabulary[left + right] { found = (l, r, m) }
        }
        guard let (l, r, m) = found else {
            throw .invalidMerge(index: index, merge: merge, reason: "not two tokens of the vocabulary whose concatenation is a token")
        }
        pairs.append((l, r, m))
    }
    return pairs
}

// MARK: Added tokens

/// The tokens matched whole in the text before BPE (tokenizers' added vocabulary): GGUF control (3)
/// and user-defined (4) tokens and every special token id of the config; those in
/// `tokenizer.lstrip_ids`/`rstrip_ids` take the whitespace before/after them. `special` are those
/// `decode` skips: control and unknown (2) tokens and the config's special ids, not user-defined ones
/// (transformers adds GGUF user-defined tokens as added tokens that are not special).
struct AddedTokens: Sendable {
    let matcher: SpecialTokenMatcher
    let special: Set<Int>

    /// With `configSpecials`, every special id of the config is matched too (a file whose token types
    /// do not name them all); without, only the token types say what is added (a Unigram tokenizer.json,
    /// whose unknown token may be plain vocabulary, matched by the Viterbi like any piece).
    /// `addedTypes`: the token types matched whole (control and user-defined; llama.cpp's Unigram also
    /// matches the unknown token, 2).
    init(data: TokenizerData, config: ModelConfig, configSpecials: Bool = true, addedTypes: Set<Int32> = [3, 4]) {
        var special = Set(config.specialTokens.values)
        var added = configSpecials ? special : []
        for (id, type) in (data.tokenTypes ?? []).enumerated() {
            if addedTypes.contains(type) { added.insert(id) }
            if type == 2 || type == 3 { special.insert(id) }
        }
        func ids(_ key: String) -> Set<Int> {
            if case .int32Array(let v)? = data.options[key] { Set(v.map(Int.init).filter { data.tokens.indices.contains($0) }) } else { [] }
        }
        matcher = SpecialTokenMatcher(added.sorted().map { (data.tokens[$0], $0) },
                                      lstrip: ids("tokenizer.lstrip_ids"), rstrip: ids("tokenizer.rstrip_ids"))
        self.special = special
    }
}

// MARK: Options

/// Typed reads of `tokenizer.*` options for the BPE tokenizers: absent keys give the caller's default.
struct BPEOptions {
    let values: [String: MetadataValue]

    func bool(_ key: String, default value: Bool) throws(TokenizerError) -> Bool {
        switch values[key] {
        case nil: return value
        case .bool(let b)?: return b
        case let other?: throw .invalidOption(key: key, value: "\(other)", reason: "expected a bool")
        }
    }

    func string(_ key: String) throws(TokenizerError) -> String? {
        switch values[key] {
        case nil: return nil
        case .string(let s)?: return s
        case let other?: throw .invalidOption(key: key, value: "\(other)", reason: "expected a string")
        }
    }

    /// `tokenizer.normalization`: nil, or one of nfc, nfd, nfkc, nfkd.
    func normalization() throws(TokenizerError) -> UnicodeNormalization? {
        guard let name = try string("tokenizer.normalization") else { return nil }
        guard let form = UnicodeNormalization(rawValue: name) else {
            throw .invalidOption(key: "tokenizer.normalization", value: "'\(name)'", reason: "expected nfc, nfd, nfkc or nfkd")
        }
        return form
    }

    /// The pre-tokenizer of `tokenizer.pre_split` (explicit regexes), else of `tokenizer.pre` (a
    /// llama.cpp name), else GPT-2's.
    func preTokenizer() throws(TokenizerError) -> PreTokenizer {
        switch values["tokenizer.pre_split"] {
        case .stringArray(let patterns)?: return try PreTokenizer(patterns: patterns)
        case let other?: throw .invalidOption(key: "tokenizer.pre_split", value: "\(other)", reason: "expected a list of regexes")
        case nil: break
        }
        if let name = try string("tokenizer.pre") { return try PreTokenizer.named(name) }
        return PreTokenizer.gpt2
    }

    func int(_ key: String, minimum: Int64) throws(TokenizerError) -> Int? {
        switch values[key] {
        case nil: return nil
        case .int(let n)? where n >= minimum && n <= Int64(Int32.max): return Int(n)
        case let other?: throw .invalidOption(key: key, value: "\(other)", reason: "expected an int from \(minimum) to \(Int32.max)")
        }
    }
}

/// Checks that every special token id of the config names a token, as WordPieceTokenizer does.
func checkSpecialTokens(_ config: ModelConfig, tokenCount: Int) throws(TokenizerError) {
    for (token, id) in config.specialTokens.sorted(by: { $0.key < $1.key }) where !(0..<tokenCount).contains(id) {
        throw .specialTokenOutOfRange(token, id: id, tokenCount: tokenCount)
    }
}

/// `ids` with `bos`/`eos` around them, truncated to `maxLength` ids in all (the pieces are cut, the
/// special tokens kept, as tokenizers truncates before the post-processor adds them).
func wrapped(_ pieces: [Int], bos: Int?, eos: Int?, maxLength: Int?) -> [Int] {
    var pieces = pieces
    if let maxLength {
        let room = max(0, maxLength - (bos == nil ? 0 : 1) - (eos == nil ? 0 : 1))
        if pieces.count > room { pieces.removeLast(pieces.count - room) }
    }
    guard bos != nil || eos != nil else { return pieces }
    var ids: [Int] = []
    ids.reserveCapacity(pieces.count + 2)
    if let bos { ids.append(bos) }
    ids.append(contentsOf: pieces)
    if let eos { ids.append(eos) }
    return ids
}
