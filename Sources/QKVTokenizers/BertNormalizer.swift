// Hugging Face tokenizers' BERT text rules, on Unicode scalars: the normalizer
// (tokenizers/src/normalizers/bert.rs) and the pre-tokenizer (tokenizers/src/pre_tokenizers/bert.rs).
// Everything works on scalars, never Characters: a Character merges a letter with its combining marks,
// while tokenizers counts, strips and matches Rust `char`s, which are scalars.

/// BertNormalizer: clean the text, space out CJK ideographs, strip accents, lowercase, in that order.
struct BertNormalizer: Sendable {
    /// Drop U+0000, U+FFFD and control characters; turn every whitespace character into a space.
    var cleanText: Bool
    /// Put a space on each side of every CJK ideograph, so each becomes a word.
    var handleChineseChars: Bool
    /// NFD, then drop nonspacing marks. (tokenizer.json's `strip_accents: null` means "as `lowercase`";
    /// qkv's importer has already resolved it.)
    var stripAccents: Bool
    /// Lowercase each scalar on its own.
    var lowercase: Bool

    /// The normalized scalars of `text`.
    func normalize<S: Collection>(_ text: S) -> [Unicode.Scalar] where S.Element == Unicode.Scalar {
        // 1 and 2. bert.rs `do_clean_text`, `do_handle_chinese_chars`: both look at one scalar at a time,
        // so one pass does both. A dropped control wins over whitespace (U+0085 is both).
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 8)
        var plain = true    // every scalar below U+00C0: nothing to decompose, no nonspacing marks
        for scalar in text {
            var s = scalar
            if cleanText {
                if isRemovedByCleanText(s) { continue }
                if isBertWhitespace(s) { s = " " }
            }
            if handleChineseChars && isChineseCharacter(s) {
                out.append(" "); out.append(s); out.append(" ")
            } else {
                out.append(s)
            }
            if s.value >= 0xC0 { plain = false }
        }
        // 3. `do_strip_accents`: NFD of the whole text, then drop general category Mn.
        if stripAccents && !plain {
            out = canonicalDecomposition(out).filter { !inRanges(BertCharacterTables.nonspacingMarks, $0.value) }
        }
        // 4. `do_lowercase`: NormalizedString::lowercase maps each char on its own with Rust's
        // `char::to_lowercase`, the full context-free mapping: Σ is always σ, never the final ς that
        // Python's `str.lower` gives at a word's end. Swift's `lowercaseMapping` is the same mapping.
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(out.count)
            for s in out {
                if s.value < 0x80 {
                    lowered.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
                } else {
                    lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
            out = lowered
        }
        return out
    }
}

// MARK: Character classes

/// Whitespace, for `clean_text` (tab, newline, return and Rust's `char::is_whitespace`) and for
/// BertPreTokenizer (`char::is_whitespace`): both are the Unicode White_Space property, which Swift's
/// `isWhitespace` also is. (Python's `str.isspace` differs: it includes U+001C...U+001F.)
@inline(__always)
func isBertWhitespace(_ s: Unicode.Scalar) -> Bool {
    if s.value < 0x80 { return s == " " || (s.value >= 0x09 && s.value <= 0x0D) }
    return s.properties.isWhitespace
}

/// What `clean_text` drops: U+0000, U+FFFD and tokenizers' control characters (its own Unicode 8.0
/// Cc, Cf and Co, not tab, newline and return).
@inline(__always)
func isRemovedByCleanText(_ s: Unicode.Scalar) -> Bool {
    if s.value < 0x80 { return s.value < 0x20 ? !(s == "\t" || s == "\n" || s == "\r") : s.value == 0x7F }
    return inRanges(BertCharacterTables.removedByCleanText, s.value)
}

/// bert.rs `is_chinese_char`: CJK Unified Ideographs and extensions A to E, and the compatibility
/// ideographs and their supplement, as tokenizers lists them. Not kana or Hangul (those languages
/// separate words with spaces), and not U+2B820...U+2B91F (the start of extension E), which tokenizers
/// leaves out where Python's BertTokenizer includes it.
@inline(__always)
func isChineseCharacter(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
         0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
        true
    default:
        false
    }
}

/// BertPreTokenizer's punctuation: ASCII punctuation (so `$ + < = > ^ ` | ~` too, which Unicode calls
/// symbols) or tokenizers' Unicode 8.0 P*. `€`, `£`, `©`, `°` are symbols and stay inside words.
@inline(__always)
func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
    if s.value < 0x80 {
        return (0x21...0x2F).contains(s.value) || (0x3A...0x40).contains(s.value)
            || (0x5B...0x60).contains(s.value) || (0x7B...0x7E).contains(s.value)
    }
    return inRanges(BertCharacterTables.punctuation, s.value)
}

/// Whether `value` is in one of the inclusive ranges of `table` (`[first, last, first, last, ...]`, sorted).
@inline(__always)
func inRanges(_ table: [UInt32], _ value: UInt32) -> Bool {
    // Binary search for the last range whose first is <= value.
    var low = 0, high = table.count / 2
    while low < high {
        let mid = (low + high) / 2
        if table[2 * mid] <= value { low = mid + 1 } else { high = mid }
    }
    return low > 0 && value <= table[2 * (low - 1) + 1]
}

// MARK: NFD

/// Each decomposable scalar (Hangul syllables aside) and its full canonical decomposition, from
/// `BertCharacterTables.decompositions`, built once.
let bertDecompositions: [UInt32: [Unicode.Scalar]] = {
    let table = BertCharacterTables.decompositions
    var out: [UInt32: [Unicode.Scalar]] = [:]
    var i = 0
    while i < table.count {
        let count = Int(table[i + 1])
        out[table[i]] = table[i + 2..<i + 2 + count].map { Unicode.Scalar($0)! }
        i += 2 + count
    }
    return out
}()

/// NFD as tokenizers computes it: each scalar replaced by its full canonical decomposition (its own
/// data, `BertCharacterTables.decompositions`, and the Hangul syllable algorithm), then every run of
/// non-starters stably sorted by canonical combining class (its own data too, `combiningClass`).
///
/// Not Foundation's `decomposedStringWithCanonicalMapping`: on Linux it takes time quadratic in the
/// text when the text changes length ("é" × 200,000 takes ~1 s, marks to reorder ~30 s), and it knows
/// decompositions newer than tokenizers' (U+11938). Linear here, whatever the input.
func canonicalDecomposition(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(scalars.count + scalars.count / 2)
    for s in scalars {
        if s.value < 0xC0 {
            out.append(s)
        } else if (0xAC00...0xD7A3).contains(s.value) {
            // Hangul: syllable = 0xAC00 + (leading * 21 + vowel) * 28 + trailing (Unicode 3.12).
            let index = s.value - 0xAC00
            out.append(Unicode.Scalar(0x1100 + index / 588)!)
            out.append(Unicode.Scalar(0x1161 + (index % 588) / 28)!)
            if index % 28 != 0 { out.append(Unicode.Scalar(0x11A7 + index % 28)!) }
        } else if let decomposition = bertDecompositions[s.value] {
            out.append(contentsOf: decomposition)
        } else {
            out.append(s)
        }
    }
    // Canonical ordering: a run of two or more non-starters is sorted by class, ties kept in order.
    var i = 0
    while i < out.count {
        guard combiningClass(out[i]) != 0 else { i += 1; continue }
        var j = i + 1
        while j < out.count && combiningClass(out[j]) != 0 { j += 1 }
        if j - i > 1 {
            let sorted = out[i..<j].enumerated()
                .map { (rank: combiningClass($0.element), position: $0.offset, scalar: $0.element) }
                .sorted { ($0.rank, $0.position) < ($1.rank, $1.position) }
            out.replaceSubrange(i..<j, with: sorted.map(\.scalar))
        }
        i = j
    }
    return out
}

/// The canonical combining class as tokenizers' NFD knows it (0 for starters), from
/// `BertCharacterTables.combiningClasses`. Not Swift's `canonicalCombiningClass`: marks Unicode added
/// after tokenizers' data are starters there, so they must not be reordered here either.
@inline(__always)
func combiningClass(_ s: Unicode.Scalar) -> UInt8 {
    if s.value < 0x300 { return 0 }     // below U+0300 every scalar is a starter
    let table = BertCharacterTables.combiningClasses
    // Binary search for the last run whose first is <= s.
    var low = 0, high = table.count / 3
    while low < high {
        let mid = (low + high) / 2
        if table[3 * mid] <= s.value { low = mid + 1 } else { high = mid }
    }
    return low > 0 && s.value <= table[3 * (low - 1) + 1] ? UInt8(table[3 * (low - 1) + 2]) : 0
}

// MARK: Pre-tokenizer

/// BertPreTokenizer: split on whitespace (Rust's `char::is_whitespace`, dropped), then make every
/// punctuation scalar a word of its own. Returns the words as ranges of `scalars`.
func bertWords(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
    var words: [Range<Int>] = []
    var start = 0
    for (i, s) in scalars.enumerated() {
        if isBertWhitespace(s) {
            if start < i { words.append(start..<i) }
            start = i + 1
        } else if isBertPunctuation(s) {
            if start < i { words.append(start..<i) }
            words.append(i..<i + 1)
            start = i + 1
        }
    }
    if start < scalars.count { words.append(start..<scalars.count) }
    return words
}
