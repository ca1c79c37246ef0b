/// Tokens as labels: made visible (a GPT-2 piece's leading space, a newline) and cut to a width.
enum TokenLabel {
    /// `token` with whitespace and control characters replaced by visible marks: space `␣`, newline `⏎`,
    /// tab `⇥`, any other control character `�`. Pieces like ` the` and `\n` would otherwise be blank.
    static func visible(_ token: String) -> String {
        var out = ""
        for scalar in token.unicodeScalars {
            switch scalar {
            case " ": out += "␣"
            case "\n": out += "⏎"
            case "\t": out += "⇥"
            case _ where scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value): out += "�"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out.isEmpty ? "∅" : out
    }

    /// `text` cut to at most `columns` terminal columns, ending in `…` when cut.
    static func shortened(_ text: String, to columns: Int) -> String {
        guard displayWidth(text) > columns else { return text }
        guard columns > 1 else { return columns == 1 ? "…" : "" }
        var out = "", used = 0
        for character in text {
            let w = displayWidth(character)
            if used + w > columns - 1 { break }
            out.append(character)
            used += w
        }
        return out + "…"
    }

    /// `text` padded with spaces on the right to `columns` terminal columns.
    static func padded(_ text: String, to columns: Int) -> String {
        text + String(repeating: " ", count: max(0, columns - displayWidth(text)))
    }

    /// Columns a terminal gives `text`: 2 for East Asian wide characters, 0 for combining marks.
    static func displayWidth(_ text: String) -> Int {
        text.reduce(0) { $0 + displayWidth($1) }
    }

    static func displayWidth(_ character: Character) -> Int {
        guard let first = character.unicodeScalars.first else { return 0 }
        return isWide(first.value) ? 2 : 1
    }

    /// The common wide ranges: Hangul Jamo, CJK, Hangul syllables, compatibility forms, full-width forms,
    /// emoji.
    private static func isWide(_ v: UInt32) -> Bool {
        (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1FAFF).contains(v) || (0x20000...0x3FFFD).contains(v)
    }
}
