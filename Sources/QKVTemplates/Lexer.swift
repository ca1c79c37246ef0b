/// The template's text cut into tokens: literal text between tags, tag delimiters, and the names,
/// literals and operators inside tags. Whitespace control happens here, as in jinja2's lexer:
/// `{%-`/`{{-`/`{#-` strip all whitespace before the tag, `-%}`/`-}}`/`-#}` all whitespace after it;
/// with `lstrip_blocks` the spaces from the start of a line up to `{%` or `{#` go, with `trim_blocks`
/// the first newline after `%}` or `#}`; a `+` (`{%+`, `+%}`) turns either off for that tag.
struct Token {
    enum Kind: Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }
    var kind: Kind
    /// Where the token starts, in Unicode scalars from the start of the (newline-normalised) source.
    var offset: Int
}

struct Lexer {
    let src: [Unicode.Scalar]
    let trimBlocks: Bool
    let lstripBlocks: Bool
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the last tag ended at the end of a line (its trimmed newline included), so that
    /// `lstrip_blocks` applies to text before the next tag even without a newline in that text.
    private var lineStarting = true

    /// The source with its newlines made `\n` and one trailing newline dropped, as jinja2 reads it
    /// (`keep_trailing_newline=False`).
    static func normalize(_ source: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for s in source.unicodeScalars {
            if s == "\r" { out.append("\n"); previousCR = true; continue }
            if s == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            out.append(s)
        }
        if out.last == "\n" { out.removeLast() }
        return out
    }

    init(source: [Unicode.Scalar], trimBlocks: Bool, lstripBlocks: Bool) {
        self.src = source
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    static func position(of offset: Int, in src: [Unicode.Scalar]) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for s in src[0..<min(offset, src.count)] {
            if s == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    func error(_ message: String, at offset: Int) -> TemplateError {
        let (line, column) = Lexer.position(of: offset, in: src)
        return .syntax(line: line, column: column, message: message)
    }

    private func starts(with text: String, at i: Int) -> Bool {
        var j = i
        for s in text.unicodeScalars {
            guard j < src.count, src[j] == s else { return false }
            j += 1
        }
        return true
    }

    private func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: src[range])
        return String(view)
    }

    mutating func tokenize() throws -> [Token] {
        while pos < src.count {
            // The next tag opener.
            var i = pos
            var opener: String? = nil
            while i + 1 < src.count {
                if src[i] == "{", src[i + 1] == "{" || src[i + 1] == "%" || src[i + 1] == "#" {
                    opener = String(src[i + 1])
                    break
                }
                i += 1
            }
            guard let kind = opener else {
                emitText(string(pos..<src.count), at: pos)
                pos = src.count
                break
            }
            let signIndex = i + 2
            let sign: Unicode.Scalar? = signIndex < src.count && (src[signIndex] == "-" || src[signIndex] == "+") ? src[signIndex] : nil
            var text = Array(src[pos..<i])
            if sign == "-" {
                while let last = text.last, isPythonSpace(last) { text.removeLast() }
            } else if sign != "+" && lstripBlocks && kind != "{" {
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                if (lineStart > 0 || lineStarting) && lineStart < text.count && text[lineStart...].allSatisfy(isPythonSpace) {
                    text.removeSubrange(lineStart...)
                }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: text)
            emitText(String(view), at: pos)
            pos = signIndex + (sign == nil ? 0 : 1)
            switch kind {
            case "#": try skipComment(openedAt: i)
            case "{":
                tokens.append(Token(kind: .variableBegin, offset: i))
                try lexTag(closer: "}", openedAt: i)
            default:
                if try !lexRaw(openedAt: i) {
                    tokens.append(Token(kind: .blockBegin, offset: i))
                    try lexTag(closer: "%", openedAt: i)
                }
            }
        }
        tokens.append(Token(kind: .end, offset: src.count))
        return tokens
    }

    private mutating func emitText(_ text: String, at offset: Int) {
        if !text.isEmpty { tokens.append(Token(kind: .text(text), offset: offset)) }
    }

    /// Consumes a tag's end (`-X}` with the whitespace after it, `+X}`, or `X}` with the newline after it
    /// under `trim_blocks`, where X is `%` or `#`; `}}` has no trimming) if it starts at `pos`.
    private mutating func consumeEnd(_ closer: Unicode.Scalar) -> Bool {
        let close = String(closer) + "}"
        if starts(with: "-" + close, at: pos) {
            pos += 3
            while pos < src.count, isPythonSpace(src[pos]) { pos += 1 }
        } else if closer != "}" && starts(with: "+" + close, at: pos) {
            pos += 3
        } else if starts(with: close, at: pos) {
            pos += 2
            if closer != "}" && trimBlocks && pos < src.count && src[pos] == "\n" { pos += 1 }
        } else {
            return false
        }
        lineStarting = pos > 0 && src[pos - 1] == "\n"
        return true
    }

    private mutating func skipComment(openedAt start: Int) throws {
        while pos < src.count {
            if consumeEnd("#") { return }
            pos += 1
        }
        throw error("missing end of comment tag", at: start)
    }

    /// `{% raw %}...{% endraw %}`: the text between is kept as it is. Returns false if the tag is another.
    private mutating func lexRaw(openedAt start: Int) throws -> Bool {
        var j = pos
        while j < src.count, isPythonSpace(src[j]) { j += 1 }
        guard starts(with: "raw", at: j) else { return false }
        j += 3
        while j < src.count, isPythonSpace(src[j]) { j += 1 }
        let saved = pos
        pos = j
        guard consumeEnd("%") else { pos = saved; return false }
        let bodyStart = pos
        var k = pos
        while k + 1 < src.count {
            if src[k] == "{" && src[k + 1] == "%" {
                var m = k + 2
                let sign: Unicode.Scalar? = m < src.count && (src[m] == "-" || src[m] == "+") ? src[m] : nil
                if sign != nil { m += 1 }
                while m < src.count, isPythonSpace(src[m]) { m += 1 }
                if starts(with: "endraw", at: m) {
                    m += 6
                    while m < src.count, isPythonSpace(src[m]) { m += 1 }
                    pos = m
                    if consumeEnd("%") {
                        var body = Array(src[bodyStart..<k])
                        if sign == "-" { while let last = body.last, isPythonSpace(last) { body.removeLast() } }
                        var view = String.UnicodeScalarView()
                        view.append(contentsOf: body)
                        emitText(String(view), at: bodyStart)
                        return true
                    }
                }
            }
            k += 1
        }
        throw error("missing end of raw directive", at: start)
    }

    /// The tokens inside `{{ }}` or `{% %}` up to the closing delimiter, which only counts where the
    /// brackets opened inside the tag are all closed.
    private mutating func lexTag(closer: Unicode.Scalar, openedAt start: Int) throws {
        var brackets: [Unicode.Scalar] = []
        while true {
            while pos < src.count, isPythonSpace(src[pos]) { pos += 1 }
            guard pos < src.count else {
                throw error(closer == "}" ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", at: start)
            }
            if brackets.isEmpty {
                let here = pos
                if consumeEnd(closer) {
                    tokens.append(Token(kind: closer == "}" ? .variableEnd : .blockEnd, offset: here))
                    return
                }
            }
            let c = src[pos]
            let here = pos
            if c == "_" || c.properties.isAlphabetic {
                var j = pos
                while j < src.count, src[j] == "_" || src[j].properties.isAlphabetic || ("0"..."9").contains(src[j]) { j += 1 }
                tokens.append(Token(kind: .name(string(pos..<j)), offset: here))
                pos = j
            } else if ("0"..."9").contains(c) {
                try lexNumber()
            } else if c == "'" || c == "\"" {
                try lexString(quote: c)
            } else {
                let three = ["**", "//", "==", "!=", "<=", ">="]
                var op: String? = nil
                for candidate in three where starts(with: candidate, at: pos) { op = candidate; break }
                if op == nil, "+-/*%~[](){}.:|,=<>;".unicodeScalars.contains(c) { op = String(c) }
                guard let op else { throw error("unexpected char '\(c)'", at: pos) }
                switch op {
                case "(": brackets.append(")")
                case "[": brackets.append("]")
                case "{": brackets.append("}")
                case ")", "]", "}":
                    guard let expected = brackets.popLast() else { throw error("unexpected '\(op)'", at: pos) }
                    guard String(expected) == op else { throw error("unexpected '\(op)', expected '\(expected)'", at: pos) }
                default: break
                }
                tokens.append(Token(kind: .op(op), offset: here))
                pos += op.unicodeScalars.count
            }
        }
    }

    private mutating func lexNumber() throws {
        let start = pos
        func digits() { while pos < src.count, ("0"..."9").contains(src[pos]) || (src[pos] == "_" && pos + 1 < src.count && ("0"..."9").contains(src[pos + 1])) { pos += 1 } }
        digits()
        var isFloat = false
        if pos + 1 < src.count, src[pos] == ".", ("0"..."9").contains(src[pos + 1]) {
            // `x.0.1` is attribute access, not a float: jinja2 reads no float right after a dot.
            if !(start > 0 && src[start - 1] == ".") {
                isFloat = true
                pos += 1
                digits()
            }
        }
        if pos < src.count, src[pos] == "e" || src[pos] == "E" {
            var j = pos + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            if j < src.count, ("0"..."9").contains(src[j]) {
                isFloat = true
                pos = j
                digits()
            }
        }
        let text = string(start..<pos).replacingOccurrences(of: "_", with: "")
        if isFloat {
            tokens.append(Token(kind: .float(Double(text)!), offset: start))
        } else {
            guard let value = Int(text) else { throw error("integer literal \(text) is too large", at: start) }
            tokens.append(Token(kind: .integer(value), offset: start))
        }
    }

    /// A string literal with Python's backslash escapes (`\n`, `\t`, `\xhh`, `\uhhhh`, octal, ...);
    /// an unknown escape keeps its backslash, as Python's `unicode-escape` does.
    private mutating func lexString(quote: Unicode.Scalar) throws {
        let start = pos
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < src.count {
            let c = src[pos]
            pos += 1
            if c == quote {
                tokens.append(Token(kind: .string(String(out)), offset: start))
                return
            }
            if c != "\\" { out.append(c); continue }
            guard pos < src.count else { break }
            let e = src[pos]
            pos += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{7}")
            case "b": out.append("\u{8}")
            case "f": out.append("\u{C}")
            case "v": out.append("\u{B}")
            case "\n": break
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard pos + width <= src.count, let code = UInt32(string(pos..<pos + width), radix: 16), let s = Unicode.Scalar(code) else {
                    throw error("invalid \\\(e) escape in string literal", at: pos - 2)
                }
                out.append(s)
                pos += width
            case "0"..."7":
                var code = e.value - 0x30
                var n = 1
                while n < 3, pos < src.count, ("0"..."7").contains(src[pos]) { code = code * 8 + src[pos].value - 0x30; pos += 1; n += 1 }
                out.append(Unicode.Scalar(code)!)
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw error("unterminated string literal", at: start)
    }
}
