// WordPiece ids back to text, as Hugging Face decodes a BERT tokenizer.json (decoder `WordPiece`,
// prefix `##`, cleanup on; transformers leaves `clean_up_tokenization_spaces` off for it).

extension WordPieceTokenizer {
    /// The ids of `text`, wrapped in `[CLS] ... [SEP]` or not, truncated to `maxLength` ids in all.
    ///
    /// Without special tokens the pieces are cut to `maxLength` (tokenizers truncates before the
    /// post-processor and reserves no room when it adds nothing); `encodeWithoutSpecials` does not cut.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        if addSpecialTokens { return encode(text) }
        var ids: [Int] = []
        appendPieces(of: text, to: &ids, limit: maxLength)
        return ids
    }

    /// The pair as BERT's template writes it, `[CLS] A [SEP] B [SEP]`, token type 0 up to the first
    /// `[SEP]` and 1 after, the pieces cut to `maxLength` by tokenizers' `longest_first`.
    public func encodePair(_ first: String, _ second: String) -> (ids: [Int], typeIDs: [Int]) {
        var a: [Int] = [], b: [Int] = []
        appendPieces(of: first, to: &a, limit: .max)
        appendPieces(of: second, to: &b, limit: .max)
        truncateLongestFirst(&a, &b, room: maxLength - 3)
        let ids = [clsTokenID] + a + [sepTokenID] + b + [sepTokenID]
        return (ids, Array(repeating: 0, count: a.count + 2) + Array(repeating: 1, count: b.count + 1))
    }

    /// The text of `ids` with the special tokens (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`) left
    /// out, as transformers' `decode(ids, skip_special_tokens=True)`.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }

    /// The text of `ids`, as tokenizers' WordPiece decoder: pieces joined by spaces, a `##` piece glued
    /// to the one before (except as the very first piece, where it stays as it is), and each piece
    /// cleaned on its own (" ." -> "." and the like, so `.`, `?`, `!` and `,` attach to the word
    /// before; the rules for `'s`, `n't` and `do not` never apply to a single BERT piece).
    ///
    /// The cleanup runs piece by piece, not over the whole text: "it ' s" stays as it is, as
    /// transformers 5 prints it for all-MiniLM-L6-v2. Ids outside the vocabulary are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        let special = Set(specials.tokens.map(\.id))
        let prefix = continuingPrefixBytes
        var out: [UInt8] = []
        var first = true
        for id in ids where tokenStrings.indices.contains(id) {
            if skipSpecialTokens && special.contains(id) { continue }
            var piece = Array(tokenStrings[id].utf8)
            if !first {
                if !prefix.isEmpty && piece.starts(with: prefix) {
                    piece.removeFirst(prefix.count)
                } else {
                    piece.insert(0x20, at: 0)
                }
            }
            first = false
            out.append(contentsOf: wordPieceCleanup(piece))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The continuing prefix in UTF-8, recovered from the vocabulary (a continuation token's bytes
    /// minus the key it is filed under), since the tokenizer keeps only the split tables.
    var continuingPrefixBytes: [UInt8] {
        guard let (key, id) = vocabulary.continuations.first(where: { !$0.key.isEmpty }) ?? vocabulary.continuations.first else {
            return Array("##".utf8)
        }
        let token = Array(tokenStrings[id].utf8)
        return Array(token[..<(token.count - key.count)])
    }
}

/// tokenizers' `decoders::wordpiece::cleanup`, on bytes (Rust replaces byte sequences; Swift string
/// replacement would compare characters, and " ." followed by a combining mark is no " ." there).
func wordPieceCleanup(_ piece: [UInt8]) -> [UInt8] {
    var text = piece
    for (from, to) in wordPieceCleanupRules { text = replacingBytes(text, from, to) }
    return text
}

/// The rules in tokenizers' order; each is a plain, left-to-right, non-overlapping replacement.
private let wordPieceCleanupRules: [([UInt8], [UInt8])] = [
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
    (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
].map { (Array($0.0.utf8), Array($0.1.utf8)) }

/// `text` with every non-overlapping occurrence of `from`, left to right, replaced by `to`.
func replacingBytes(_ text: [UInt8], _ from: [UInt8], _ to: [UInt8]) -> [UInt8] {
    guard !from.isEmpty, text.count >= from.count else { return text }
    var out: [UInt8] = []
    out.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        if text[i] == from[0], i + from.count <= text.count, text[i..<i + from.count].elementsEqual(from) {
            out.append(contentsOf: to)
            i += from.count
        } else {
            out.append(text[i])
            i += 1
        }
    }
    return out
}
