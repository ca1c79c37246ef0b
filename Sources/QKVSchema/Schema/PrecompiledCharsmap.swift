import Foundation

/// SentencePiece's precompiled normalization rules (`nmt_nfkc` and friends), as Hugging Face's
/// `Precompiled` normalizer applies them: a double-array trie (darts-clone) from UTF-8 byte strings to
/// offsets into a blob of NUL-terminated replacement strings.
///
/// The blob, as `tokenizer.json`'s `precompiled_charsmap` (base64) and GGUF's
/// `tokenizer.ggml.precompiled_charsmap` (bytes) hold it:
///
/// | bytes | what |
/// |---|---|
/// | 4 | trie size in bytes, little-endian u32 (a multiple of 4) |
/// | trie size | the trie's units, little-endian u32 each |
/// | rest | the replacement strings, UTF-8, each ended by a NUL |
///
/// A unit packs `has_leaf` (bit 8), the label (low byte, or bit 31 for a value unit), the child
/// offset (bits 10..31, shifted left by 8 when bit 9 is set) and, in a value unit, the value (low 31 bits).
public struct PrecompiledCharsmap: Sendable, Equatable {
    let units: [UInt32]
    let normalized: [UInt8]

    /// Why a charsmap blob cannot be read.
    public enum Problem: Error, Equatable, Sendable {
        /// Fewer than 4 bytes, or a trie size past the end of the blob or not a multiple of 4.
        case truncated(trieBytes: Int, blobBytes: Int)
        /// The replacement strings are not UTF-8.
        case notUTF8
        /// The trie has no root unit.
        case emptyTrie
        /// The text is not base64.
        case notBase64
    }

    /// Reads and checks a blob; lookups after that never read outside it.
    public init(bytes: [UInt8]) throws(Problem) {
        guard bytes.count >= 4 else { throw .truncated(trieBytes: 0, blobBytes: bytes.count) }
        let trieBytes = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes <= bytes.count - 4 else { throw .truncated(trieBytes: trieBytes, blobBytes: bytes.count) }
        guard trieBytes >= 4 else { throw .emptyTrie }
        units = (0..<(trieBytes / 4)).map { i in
            let p = 4 + 4 * i
            return UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        }
        normalized = Array(bytes[(4 + trieBytes)...])
        guard String(bytes: normalized, encoding: .utf8) != nil else { throw .notUTF8 }
    }

    /// The blob from `tokenizer.json`'s base64 text.
    public init(base64 text: String) throws(Problem) {
        guard let data = Data(base64Encoded: text) else { throw .notBase64 }
        try self.init(bytes: [UInt8](data))
    }

    // MARK: Double-array trie

    private static func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
    private static func value(_ unit: UInt32) -> Int { Int(unit & 0x7FFF_FFFF) }
    private static func label(_ unit: UInt32) -> UInt32 { unit & (0x8000_0000 | 0xFF) }
    private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }

    /// The value of the shortest key that is a prefix of `key` (stopping at a NUL byte), as
    /// `spm_precompiled`'s `common_prefix_search(...)[0]`; nil when none. A unit index outside the
    /// trie ends the search (a well-formed trie never gets there).
    public func shortestPrefixValue<C: Collection>(_ key: C) -> Int? where C.Element == UInt8 {
        var position = Self.offset(units[0])
        for byte in key {
            if byte == 0 { return nil }
            position ^= Int(byte)
            guard units.indices.contains(position) else { return nil }
            let unit = units[position]
            guard Self.label(unit) == UInt32(byte) else { return nil }
            position ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard units.indices.contains(position) else { return nil }
                return Self.value(units[position])
            }
        }
        return nil
    }

    /// The length and value of the longest key that is a prefix of `key` (stopping at a NUL byte), as
    /// SentencePiece's and llama.cpp's normalizers take it; nil when none.
    public func longestPrefix<C: Collection>(_ key: C) -> (length: Int, value: Int)? where C.Element == UInt8 {
        var position = Self.offset(units[0])
        var found: (length: Int, value: Int)?
        for (length, byte) in key.enumerated() {
            if byte == 0 { break }
            position ^= Int(byte)
            guard units.indices.contains(position) else { break }
            let unit = units[position]
            guard Self.label(unit) == UInt32(byte) else { break }
            position ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard units.indices.contains(position) else { break }
                found = (length + 1, Self.value(units[position]))
            }
        }
        return found
    }

    /// The string starting at `offset` of the replacement strings, up to its NUL; nil past their end.
    func string(at offset: Int) -> ArraySlice<UInt8>? {
        guard offset <= normalized.count else { return nil }
        let end = normalized[offset...].firstIndex(of: 0) ?? normalized.count
        return normalized[offset..<end]
    }

    /// The replacement for `bytes` (its shortest matching prefix's string, up to its NUL), or nil.
    public func replacement<C: Collection>(for bytes: C) -> ArraySlice<UInt8>? where C.Element == UInt8 {
        shortestPrefixValue(bytes).flatMap(string(at:))
    }

    /// `text` normalized as SentencePiece and llama.cpp do: from each position, the longest key that
    /// starts there is replaced by its string, else one scalar is kept as it is.
    public func normalizeLongestMatch(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if let match = longestPrefix(bytes[i...]), let replaced = string(at: match.value) {
                out.append(contentsOf: replaced)
                i += match.length
                continue
            }
            let width = bytes[i] >= 0xF0 ? 4 : bytes[i] >= 0xE0 ? 3 : bytes[i] >= 0xC0 ? 2 : 1
            let end = min(i + width, bytes.count)
            out.append(contentsOf: bytes[i..<end])
            i = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` normalized as tokenizers' `Precompiled` does: each grapheme cluster shorter than 6 UTF-8
    /// bytes is replaced whole when a prefix of it has a rule; otherwise each scalar on its own.
    ///
    /// Whole-grapheme replacement by the shortest prefix's rule is what `tokenizers` and therefore every
    /// tokenizer.json user does (sentencepiece itself takes the longest match); ids have to match theirs.
    public func normalize(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let bytes = Array(String(grapheme).utf8)
            if bytes.count < 6, let replaced = replacement(for: bytes) {
                out.append(contentsOf: replaced)
                continue
            }
            for scalar in grapheme.unicodeScalars {
                var scalarBytes: [UInt8] = []
                UTF8.encode(scalar) { scalarBytes.append($0) }
                out.append(contentsOf: replacement(for: scalarBytes) ?? scalarBytes[...])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension PrecompiledCharsmap.Problem {
    /// The problem in words, for the errors that name the key holding the blob.
    public var reason: String {
        switch self {
        case let .truncated(trie, blob): "the trie size (\(trie) bytes) does not fit the \(blob)-byte blob (or is not a multiple of 4)"
        case .notUTF8: "its replacement strings are not UTF-8"
        case .emptyTrie: "its trie is empty"
        case .notBase64: "it is not base64"
        }
    }
}
