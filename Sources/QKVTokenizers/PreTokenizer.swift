import Foundation
import QKVSchema

/// How a byte-level BPE tokenizer cuts text into words before merging: split regexes applied in order,
/// each cutting every piece the one before left into its matches and the stretches between them.
///
/// This is Hugging Face's `Split(pattern, behavior: Isolated)` chained in a `Sequence` (and the regex of
/// `ByteLevel(use_regex: true)`), and llama.cpp's `unicode_regex_split` over a pre-tokenizer's list: a
/// regex sees one piece at a time, so `$` and lookaheads stop at the piece's end; an empty match cuts
/// the piece there (SuperBPE's `(?=(\d{3})+(?!\d))`). The regexes run on Swift's `Regex` over Unicode
/// scalars, about a third of the speed of tokenizers' Oniguruma on Llama 3's regex (Specs/benchmarks.md);
/// GPT-2's, the most common, is matched by hand (`gpt2Words`, as fast as tokenizers) with scalar
/// classes checked against Oniguruma's.
public struct PreTokenizer: Sendable {
    /// Unchecked `Sendable`: a `Regex` is `Sendable` when its output is; `AnyRegexOutput` is not only
    /// because a match carries its captures as `Any`, which every match makes anew (and `regexSplit`
    /// keeps only ranges). The regex itself is immutable after construction.
    enum Step: @unchecked Sendable {
        case gpt2
        case regex(Regex<AnyRegexOutput>)
    }

    /// The regexes, in the order they cut.
    public let patterns: [String]
    let steps: [Step]

    /// A pre-tokenizer from explicit regexes (`tokenizer.pre_split`).
    /// - Throws: `TokenizerError.invalidOption` naming a regex Swift's `Regex` cannot compile.
    public init(patterns: [String], key: String = "tokenizer.pre_split") throws(TokenizerError) {
        self.patterns = patterns
        var steps: [Step] = []
        for pattern in patterns {
            if gpt2Patterns.contains(pattern) {
                steps.append(.gpt2)
                continue
            }
            do {
                steps.append(.regex(try Regex(swiftRegexSource(pattern)).matchingSemantics(.unicodeScalar)))
            } catch {
                throw .invalidOption(key: key, value: "'\(pattern)'", reason: "not a regex qkv can compile: \(error)")
            }
        }
        self.steps = steps
    }

    /// GPT-2's pre-tokenizer: one regex, `gpt2SplitPattern`.
    public static let gpt2 = try! PreTokenizer(patterns: [gpt2SplitPattern])

    /// The pre-tokenizer llama.cpp calls `name` (`tokenizer.ggml.pre`).
    /// - Throws: `TokenizerError.invalidOption` for a name qkv does not know, naming it.
    public static func named(_ name: String) throws(TokenizerError) -> PreTokenizer {
        guard let patterns = LlamaCppPreTokenizer.table[name]?.patterns else {
            throw .invalidOption(key: "tokenizer.pre", value: "'\(name)'", reason: "not a llama.cpp pre-tokenizer qkv implements (Specs/schema.md lists them)")
        }
        return try PreTokenizer(patterns: patterns, key: "tokenizer.pre")
    }

    /// Calls `body` with each word of `text`, in order; the words tile the text.
    func split(_ text: ArraySlice<Unicode.Scalar>, _ body: (ArraySlice<Unicode.Scalar>) -> Void) {
        guard !text.isEmpty else { return }
        var pieces: [Range<Int>] = [text.indices]
        for step in steps {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count * 2)
            for piece in pieces {
                switch step {
                case .gpt2:
                    gpt2Words(text[piece]) { next.append($0.indices) }
                case .regex(let regex):
                    regexSplit(text[piece], regex) { next.append($0) }
                }
            }
            pieces = next
        }
        for piece in pieces { body(text[piece]) }
    }

    /// The words of `text`, as strings, for inspection and tests.
    public func words(_ text: String) -> [String] {
        var words: [String] = []
        split(Array(text.unicodeScalars)[...]) { word in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: word)
            words.append(String(view))
        }
        return words
    }
}

/// `pattern` as Swift's regex parser must see it to read it as Oniguruma (tokenizers) does: every
/// non-ASCII scalar written `\x{HHHH}`, and a class range whose ends the parser would call out of order
/// spelled out scalar by scalar. The parser compares a range's ends as `Character`s, under canonical
/// equivalence, so `Ὗ-ώ` (U+1F5F-U+1F7D, in DeepSeek's letter class) is refused, U+1F7D being
/// equivalent to U+03CE; and it refuses an end that NFC changes.
func swiftRegexSource(_ pattern: String) -> String {
    let scalars = Array(onigurumaScripts(pattern).unicodeScalars)
    var out = String.UnicodeScalarView()
    func escaped(_ scalar: Unicode.Scalar) {
        if scalar.isASCII { out.append(scalar) } else { out.append(contentsOf: "\\x{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars) }
    }
    var i = 0, inClass = false
    while i < scalars.count {
        let c = scalars[i]
        if c == "\\" && i + 1 < scalars.count {
            out.append(c)
            escaped(scalars[i + 1])
            i += 2
            continue
        }
        if c == "[" { inClass = true } else if c == "]" { inClass = false }
        if inClass, i + 2 < scalars.count, scalars[i + 1] == "-", scalars[i + 2] != "]", scalars[i + 2] != "\\",
           c.value < scalars[i + 2].value, !nfcStable(c) || !nfcStable(scalars[i + 2]) || String(Character(c)) > String(Character(scalars[i + 2])) {
            for value in c.value...scalars[i + 2].value { if let s = Unicode.Scalar(value) { escaped(s) } }
            i += 3
            continue
        }
        escaped(c)
        i += 1
    }
    return String(out)
}

/// `\p{Han}` and the other script names as `\p{sc=...}`: Oniguruma reads a bare script name as the
/// Script property, Swift as Script_Extensions, which puts CJK punctuation (U+3001 `、`) in Han.
private func onigurumaScripts(_ pattern: String) -> String {
    var out = pattern
    for script in ["Han", "Hiragana", "Katakana", "Hangul", "Latin", "Greek", "Cyrillic", "Arabic", "Hebrew", "Thai", "Devanagari"] {
        out = out.replacingOccurrences(of: "\\p{\(script)}", with: "\\p{sc=\(script)}")
    }
    return out
}

/// Whether NFC leaves `scalar` as it is.
private func nfcStable(_ scalar: Unicode.Scalar) -> Bool {
    Array(String(Character(scalar)).precomposedStringWithCanonicalMapping.unicodeScalars) == [scalar]
}

/// Emits the matches of `regex` in `piece` and the stretches between them, as absolute index ranges.
private func regexSplit(_ piece: ArraySlice<Unicode.Scalar>, _ regex: Regex<AnyRegexOutput>, _ emit: (Range<Int>) -> Void) {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: piece)
    let text = String(view)
    let scalars = text.unicodeScalars
    var last = piece.startIndex
    var cursor = scalars.startIndex, cursorOffset = piece.startIndex
    func offset(_ index: String.Index) -> Int {
        cursorOffset += scalars.distance(from: cursor, to: index)
        cursor = index
        return cursorOffset
    }
    for match in text.matches(of: regex) {
        let start = offset(match.range.lowerBound), end = offset(match.range.upperBound)
        if start > last { emit(last..<start) }
        if end > start { emit(start..<end) }
        last = max(last, end)
    }
    if last < piece.endIndex { emit(last..<piece.endIndex) }
}

// MARK: The regexes

/// Spellings of GPT-2's regex that `gpt2Words` matches: Hugging Face's, and llama.cpp's without the
/// final `\s+` (a lone whitespace scalar it leaves unmatched is a piece of its own either way).
let gpt2Patterns: Set<String> = [gpt2SplitPattern, #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#]

// MARK: Unicode normalization

/// The Unicode normalization a tokenizer.json's normalizer applies before splitting (Qwen2's NFC),
/// `tokenizer.normalization`.
public enum UnicodeNormalization: String, Sendable {
    case nfc, nfd, nfkc, nfkd

    /// `text` in this form.
    func apply(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: text)
        let string = String(view)
        let normalized = switch self {
        case .nfc: string.precomposedStringWithCanonicalMapping
        case .nfd: string.decomposedStringWithCanonicalMapping
        // NFKC as its definition, canonical composition of NFKD: Foundation's own NFKC on Linux leaves
        // some compatibility decompositions uncomposed (U+FF8A U+FF9F stays U+30CF U+309A, not U+30D1).
        case .nfkc: string.decomposedStringWithCompatibilityMapping.precomposedStringWithCanonicalMapping
        case .nfkd: string.decomposedStringWithCompatibilityMapping
        }
        return Array(normalized.unicodeScalars)
    }
}
