/// A JSON value as the text had it: objects keep their key order and duplicates (so a reader can reject
/// them; Foundation's parser keeps the last silently), numbers keep their digits (so a 64-bit offset is
/// read exactly, not through a Double).
public indirect enum JSONValue: Equatable, Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.number(x), .number(y)): x == y
        case let (.bool(x), .bool(y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// The value of `key` in an object (the first, if repeated).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [(key: String, value: JSONValue)]? { if case .object(let o) = self { o } else { nil } }

    /// An integer number without fraction or exponent, exactly.
    public var int64Value: Int64? { if case .number(let n) = self { Int64(n) } else { nil } }
    public var uint64Value: UInt64? { if case .number(let n) = self { UInt64(n) } else { nil } }
    /// Any number as a Double (integers beyond 2^53 round).
    public var doubleValue: Double? { if case .number(let n) = self { Double(n) } else { nil } }
}

/// Why a text is not JSON: the byte offset where parsing stopped and what was wrong there.
public struct JSONSyntaxError: Error, Equatable, Sendable {
    public var offset: Int
    public var reason: String
}

/// A strict RFC 8259 parser over UTF-8 bytes. Nesting is limited (128 levels unless the caller says) so a
/// hostile text cannot exhaust the stack.
public struct JSONParser {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private var i = 0
    private var depth = 0
    /// Deeper than any model file's JSON nests.
    public static let defaultMaxDepth = 128

    /// The one JSON value `bytes` hold, with nothing but white space around it.
    /// - Parameters:
    ///   - bytes: UTF-8 text; invalid UTF-8 anywhere is an error.
    ///   - maxDepth: the most arrays and objects that may nest, each counting one level.
    /// - Throws: `JSONSyntaxError` with the offset where the text stops being JSON.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == bytes.count else { throw parser.fail("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, reason: reason) }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: String) throws(JSONSyntaxError) {
        for byte in literal.utf8 {
            guard i < bytes.count, bytes[i] == byte else { throw fail("expected '\(literal)'") }
            i += 1
        }
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    private mutating func nest() throws(JSONSyntaxError) {
        depth += 1
        if depth > maxDepth { throw fail("nested more than \(maxDepth) levels") }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try nest()
        i += 1
        var members: [(key: String, value: JSONValue)] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            try expect(":")
            skipSpace()
            members.append((key, try value()))
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of text in an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        depth -= 1
        return .object(members)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try nest()
        i += 1
        var elements: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(elements) }
        while true {
            skipSpace()
            elements.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of text in an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected ',' or ']'")
        }
        depth -= 1
        return .array(elements)
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            return i - s
        }
        let integerStart = i
        let n = digits()
        guard n > 0 else { throw fail("expected digits") }
        if n > 1 && bytes[integerStart] == UInt8(ascii: "0") { throw fail("leading zero in a number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw fail("expected digits after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("expected digits in the exponent") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            // Bytes up to the next quote, backslash or control character are copied as one run.
            let run = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
            out.append(contentsOf: bytes[run..<i])
            guard i < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") { i += 1; break }
            if byte < 0x20 { throw fail("control character in a string") }
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let escape = bytes[i]
            i += 1
            switch escape {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail("unknown escape")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return text
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            value = value << 4 | digit
            i += 1
        }
        return value
    }
}

/// Literals build documents as they read: `["object": "list", "data": .array(items)]`, members in the
/// order written.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral members: (String, JSONValue)...) { self = .object(members.map { (key: $0.0, value: $0.1) }) }
}

extension JSONValue {
    public static func int(_ v: Int) -> JSONValue { .number(String(v)) }
    /// A number, or null for NaN and infinities, which JSON cannot spell.
    public static func double(_ v: Double) -> JSONValue { v.isFinite ? .number(String(v)) : .null }
    public static func strings(_ v: [String]) -> JSONValue { .array(v.map(JSONValue.string)) }
    public static func ints(_ v: [Int]) -> JSONValue { .array(v.map(JSONValue.int)) }
}

extension JSONValue {
    /// Serialises compactly, keys in their order; strings escaped per RFC 8259.
    public var text: String {
        var out = ""
        write(to: &out, escaping: [])
        return out
    }

    /// Serialises compactly with extra characters escaped (`.html` for text inside a `<script>` element).
    public func text(escaping: JSONEscaping) -> String {
        var out = ""
        write(to: &out, escaping: escaping)
        return out
    }

    /// Serialises indented, two spaces a level, `"key" : value`, `/` written as `\/`, and an empty
    /// container as its brackets around an empty line: the layout of Foundation's `JSONEncoder` with
    /// `.prettyPrinted`, which `qkv inspect --json` has always printed.
    public var prettyText: String {
        var out = ""
        writePretty(to: &out, level: 0)
        return out
    }

    func write(to out: inout String, escaping: JSONEscaping) {
        switch self {
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                out += JSONText.string(member.key, escaping: escaping) + ":"
                member.value.write(to: &out, escaping: escaping)
            }
            out += "}"
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                element.write(to: &out, escaping: escaping)
            }
            out += "]"
        case .string(let s): out += JSONText.string(s, escaping: escaping)
        case .number(let n): out += n
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    private func writePretty(to out: inout String, level: Int) {
        let indent = String(repeating: "  ", count: level + 1), closing = String(repeating: "  ", count: level)
        switch self {
        case .object(let members):
            out += members.isEmpty ? "{\n\n" : "{\n"
            for (i, member) in members.enumerated() {
                out += indent + JSONText.string(member.key, escaping: .slashes) + " : "
                member.value.writePretty(to: &out, level: level + 1)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += closing + "}"
        case .array(let elements):
            out += elements.isEmpty ? "[\n\n" : "[\n"
            for (i, element) in elements.enumerated() {
                out += indent
                element.writePretty(to: &out, level: level + 1)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += closing + "]"
        case .string(let s): out += JSONText.string(s, escaping: .slashes)
        default: write(to: &out, escaping: [])
        }
    }
}

/// Characters a JSON string may escape beyond the ones it must.
public struct JSONEscaping: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `/` as `\/` (Foundation's writers do so by default).
    public static let slashes = JSONEscaping(rawValue: 1)
    /// `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`, so the text is also safe inside an HTML `<script>`
    /// element (`</script>` cannot occur).
    public static let html = JSONEscaping(rawValue: 2)
}

/// The project's JSON writer, for documents built piece by piece where a `JSONValue` tree would box
/// every number (the attention report's float matrices): strings escaped, numbers in their shortest
/// round-tripping decimals, objects with their keys in the order given. `JSONValue.text` writes with it.
public enum JSONText {
    /// `text` as a JSON string: `"`, `\\` and control characters escaped (`\n`, `\r`, `\t`, else `\u00XX`),
    /// and what `escaping` adds.
    public static func string(_ text: String, escaping: JSONEscaping = []) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "/" where escaping.contains(.slashes): out += "\\/"
            case _ where escaping.contains(.html) && ["<", ">", "&", "\u{2028}", "\u{2029}"].contains(scalar): out += unicodeEscape(scalar.value)
            case _ where scalar.value < 0x20: out += unicodeEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        "\\u" + String(value, radix: 16).leftPadded(to: 4)
    }

    /// A number as its shortest round-tripping decimal (`0.1`, `8.0`, `1e-06`); NaN and infinities, which
    /// JSON cannot spell, as `null`.
    public static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }

    /// A float as its shortest round-tripping decimal as a float (`0.1`, not 0.10000000149011612); NaN and
    /// infinities as `null`.
    public static func number(_ value: Float) -> String { value.isFinite ? "\(value)" : "null" }

    /// `[a,b,...]` of values already written as JSON.
    public static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// `{"k":v,...}` of values already written as JSON, keys in the order given.
    public static func object(_ members: [(String, String)], escaping: JSONEscaping = []) -> String {
        "{" + members.map { string($0.0, escaping: escaping) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}
