import Foundation
import QKVSchema
import Synchronization

/// A value as a template sees it: what the caller passes in (JSON-like data) and what expressions make.
///
/// The cases follow Python's types as jinja2 sees them: `none` is Python's `None`, `undefined` is
/// jinja2's `Undefined` (a missing variable, attribute or item: falsy, renders as nothing, and an error
/// only where jinja2 raises one). Tuples are arrays. Dictionaries keep their insertion order.
public indirect enum TemplateValue: Sendable {
    /// A name, attribute or item that does not exist; `hint` says which, for error messages.
    case undefined(hint: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    case dict(TemplateDict)
    /// The mutable object `namespace()` makes.
    case namespace(Namespace)
    /// A macro, a global function or a bound method.
    case callable(TemplateCallable)

    /// An undefined value with no particular name.
    public static let missing = TemplateValue.undefined(hint: "value")

    /// A value from plain Swift values: `nil` and `NSNull` are `None`; `Bool`, `Int`, `Double`, `String`,
    /// arrays and `[String: Any]` dictionaries. Dictionary keys are sorted, since Swift dictionaries have no
    /// order; pass a `TemplateDict` (or use `init(json:)`) where order matters.
    public init(any value: Any?) {
        guard let value else { self = .none; return }
        switch value {
        case let v as TemplateValue: self = v
        case let v as TemplateDict: self = .dict(v)
        case is NSNull: self = .none
        case let v as String: self = .string(v)
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .int(v)
        case let v as Double: self = .double(v)
        case let v as [Any?]: self = .array(v.map { TemplateValue(any: $0) })
        case let v as [String: Any?]:
            self = .dict(TemplateDict(v.keys.sorted().map { ($0, TemplateValue(any: v[$0]!)) }))
        default: self = .string(String(describing: value))
        }
    }

    /// The deepest JSON text nests that `init(json:)` reads: as deep as `tojson` writes.
    public static let maxJSONDepth = 512

    /// A value from JSON text, keeping the order of object keys and telling `1` from `1.0`.
    ///
    /// The text is read by the project's one strict RFC 8259 parser (`JSONParser`), which a request body
    /// also goes through: a template sees what `json.loads` hands jinja2, and text `json.loads` takes only
    /// as an extension (`NaN`, `Infinity`) is refused.
    /// - Parameter json: JSON text, nested at most ``maxJSONDepth`` levels.
    /// - Throws: `TemplateError.invalidJSON(offset:reason:)` with the UTF-8 byte offset where the text stops
    ///   being JSON.
    public init(json: String) throws(TemplateError) {
        do {
            self = TemplateValue(try JSONParser.parse(Array(json.utf8), maxDepth: Self.maxJSONDepth))
        } catch {
            throw .invalidJSON(offset: error.offset, reason: error.reason)
        }
    }

    /// A parsed JSON value as a template sees it, as Python's `json` reads it: objects keep their order (a
    /// name given twice keeps its first place and its last value, as a Python dict built from the pairs
    /// does), and a number without fraction or exponent that fits an `Int` is an int, any other a float.
    public init(_ json: JSONValue) {
        switch json {
        case .object(let members): self = .dict(TemplateDict(members.map { ($0.key, TemplateValue($0.value)) }))
        case .array(let elements): self = .array(elements.map(TemplateValue.init))
        case .string(let text): self = .string(text)
        case .number(let digits):
            let whole = !digits.contains { $0 == "." || $0 == "e" || $0 == "E" }
            // The parser checked the digits, so `Double` reads them (past its range as an infinity).
            if whole, let int = Int(digits) { self = .int(int) } else { self = .double(Double(digits)!) }
        case .bool(let flag): self = .bool(flag)
        case .null: self = .none
        }
    }

    /// The value as compact JSON (`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`), keys
    /// in their order: how a server hands JSON it parsed (tool-call arguments) back as a string.
    /// - Throws: `TemplateError` for a value JSON has no form for (undefined, a macro) or nested too deep.
    public func compactJSON() throws -> String {
        try JSONWriter(separators: (",", ":")).write(self)
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Python's truth value: empty strings, lists and dicts, zero, `None` and undefined are false.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .dict(let d): return !d.isEmpty
        case .namespace, .callable: return true
        }
    }

    /// Python's type name, for error messages ("'dict object' has no attribute ...").
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    /// A dictionary literal keeps the order it is written in.
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self = .dict(TemplateDict(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

/// A dictionary with string keys that keeps insertion order, as Python's does.
public struct TemplateDict: Sendable {
    public private(set) var keys: [String] = []
    private var storage: [String: TemplateValue] = [:]

    public init() {}
    public init(_ pairs: [(String, TemplateValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    public var values: [TemplateValue] { keys.map { storage[$0]! } }
    public var pairs: [(String, TemplateValue)] { keys.map { ($0, storage[$0]!) } }
}

/// What `namespace()` makes: attributes that `{% set ns.name = ... %}` changes from inside loops.
///
/// A reference type because every scope that sees the namespace must see the change. Made and changed
/// by the one render that created it; the mutex makes it `Sendable` like every other template value.
public final class Namespace: Sendable {
    private let storage: Mutex<TemplateDict>
    init(_ attributes: TemplateDict) { storage = Mutex(attributes) }

    /// Every attribute as it is now.
    var attributes: TemplateDict { storage.withLock { $0 } }

    /// One attribute; nil when it was never set.
    subscript(name: String) -> TemplateValue? {
        get { storage.withLock { $0[name] } }
        set { storage.withLock { $0[name] = newValue } }
    }
}

/// Something a template can call.
public enum TemplateCallable: Sendable {
    /// A `{% macro %}` of the template.
    case macro(Macro)
    /// A global function (`range`, `namespace`, `raise_exception`, ...), by name.
    case global(String)
    /// A method of a string, list or dict (`'a'.upper`, `d.items`), bound to its receiver.
    case method(TemplateValue, String)
    /// `loop.cycle`, bound to the iteration's index.
    case cycle(Int)
}

// MARK: Equality and order, as Python compares

extension TemplateValue {
    /// Python's `==`: numbers by value across int, float and bool; lists and dicts element by element;
    /// undefined equals only undefined.
    func pyEquals(_ other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.pairs.allSatisfy { k, v in b[k].map { v.pyEquals($0) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let x = numericPair(self, other) {
                switch x {
                case .ints(let a, let b): return a == b
                case .doubles(let a, let b): return a == b
                }
            }
            return false
        }
    }
}

enum NumericPair {
    case ints(Int, Int)
    case doubles(Double, Double)
}

/// Two numbers (bools count as 0 and 1, as in Python) as ints when both are, else as doubles.
func numericPair(_ a: TemplateValue, _ b: TemplateValue) -> NumericPair? {
    func asInt(_ v: TemplateValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    func asDouble(_ v: TemplateValue) -> Double? {
        if case .double(let d) = v { return d }
        return asInt(v).map(Double.init)
    }
    if let x = asInt(a), let y = asInt(b) { return .ints(x, y) }
    if let x = asDouble(a), let y = asDouble(b) { return .doubles(x, y) }
    return nil
}

// MARK: Strings as Python prints them

/// Python's `str.isspace` set: what `strip()`, `split()` and jinja2's whitespace control remove.
func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default: return false
    }
}

extension String {
    /// Python's `str.strip(chars)`: `chars` nil strips whitespace.
    func pyStrip(_ chars: String? = nil, leading: Bool = true, trailing: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        let keep: (Unicode.Scalar) -> Bool = { s in set.map { !$0.contains(s) } ?? !isPythonSpace(s) }
        let scalars = Array(unicodeScalars)
        var start = 0, end = scalars.count
        if leading { while start < end && !keep(scalars[start]) { start += 1 } }
        if trailing { while end > start && !keep(scalars[end - 1]) { end -= 1 } }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[start..<end])
        return String(out)
    }

    /// Python's `str(x)` length: code points, not grapheme clusters.
    var pyCount: Int { unicodeScalars.count }
}

/// Python's `repr(float)`: the shortest digits that read back, exponent form below 1e-4 and from 1e16.
func pythonFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description has the same shortest round-trip digits; only the layout differs.
    var text = "\(abs(d))"
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...])!
        text = String(text[..<e])
    }
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let intPart = String(parts[0]), fracPart = parts.count > 1 ? String(parts[1]) : ""
    var digits = intPart + fracPart
    var point = intPart.count + exponent  // the decimal point sits after `point` digits
    while digits.hasPrefix("0") && digits.count > 1 { digits.removeFirst(); point -= 1 }
    while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
    let sign = d < 0 ? "-" : ""
    if point > 16 || point < -3 {
        let e = point - 1
        let mantissa = digits.count > 1 ? "\(digits.first!).\(digits.dropFirst())" : digits
        let expText = String(format: "%02d", abs(e))
        return "\(sign)\(mantissa)e\(e < 0 ? "-" : "+")\(expText)"
    }
    if point <= 0 { return "\(sign)0.\(String(repeating: "0", count: -point))\(digits)" }
    if point >= digits.count { return "\(sign)\(digits)\(String(repeating: "0", count: point - digits.count)).0" }
    let cut = digits.index(digits.startIndex, offsetBy: point)
    return "\(sign)\(digits[..<cut]).\(digits[cut...])"
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote.
func pythonStringRepr(_ s: String) -> String {
    let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(scalar) == quote { out += "\\\(quote)"; continue }
            if scalar.value < 0x20 || scalar.value == 0x7F || (scalar.value >= 0x80 && !isPrintable(scalar)) {
                let v = scalar.value
                if v < 0x100 { out += String(format: "\\x%02x", v) }
                else if v < 0x10000 { out += String(format: "\\u%04x", v) }
                else { out += String(format: "\\U%08x", v) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    out.append(quote)
    return out
}

/// Python's `str.isprintable` for one code point: not a control, format, surrogate, private-use,
/// unassigned or separator character other than the space.
private func isPrintable(_ s: Unicode.Scalar) -> Bool {
    switch s.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: return false
    case .spaceSeparator: return s == " "
    default: return true
    }
}

extension TemplateValue {
    /// Python's `str(x)`, which `{{ x }}` prints: undefined prints nothing, `None` as `None`, lists and
    /// dicts as their repr.
    var pyStr: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pyRepr
        }
    }

    /// Python's `repr(x)`.
    var pyRepr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pythonFloatRepr(d)
        case .string(let s): return pythonStringRepr(s)
        case .array(let a): return "[" + a.map(\.pyRepr).joined(separator: ", ") + "]"
        case .dict(let d):
            return "{" + d.pairs.map { "\(pythonStringRepr($0.0)): \($0.1.pyRepr)" }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace \(TemplateValue.dict(n.attributes).pyRepr)>"
        case .callable(let c):
            switch c {
            case .macro(let m): return "<Macro '\(m.name)'>"
            case .global(let name): return "<function \(name)>"
            case .method(_, let name): return "<built-in method \(name)>"
            case .cycle: return "<bound method LoopContext.cycle>"
            }
        }
    }
}

// MARK: JSON

/// `json.dumps` as transformers' `tojson` calls it: `ensure_ascii`, `indent`, `separators` and
/// `sort_keys` as Python's json module applies them.
struct JSONWriter {
    var ensureASCII = false
    var indent: String? = nil
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false

    init(ensureASCII: Bool = false, indent: String? = nil, separators: (String, String)? = nil, sortKeys: Bool = false) {
        self.ensureASCII = ensureASCII
        self.indent = indent
        self.sortKeys = sortKeys
        if let separators { (itemSeparator, keySeparator) = separators }
        else { (itemSeparator, keySeparator) = (indent == nil ? ", " : ",", ": ") }
    }

    func write(_ value: TemplateValue, level: Int = 0) throws -> String {
        guard level < 512 else { throw TemplateError.limitExceeded(limit: "nesting depth", value: 512) }
        switch value {
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return pythonFloatRepr(d)
        case .string(let s): return quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            return try wrap("[", "]", items.map { try write($0, level: level + 1) }, level: level)
        case .dict(let d):
            if d.isEmpty { return "{}" }
            let keys = sortKeys ? d.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : d.keys
            return try wrap("{", "}", keys.map { quote($0) + keySeparator + (try write(d[$0]!, level: level + 1)) }, level: level)
        case .undefined, .namespace, .callable:
            throw TemplateError.typeError("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    private func wrap(_ open: String, _ close: String, _ parts: [String], level: Int) -> String {
        guard let indent else { return open + parts.joined(separator: itemSeparator) + close }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        let outer = "\n" + String(repeating: indent, count: level)
        return open + inner + parts.joined(separator: itemSeparator + inner) + outer + close
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += String(format: "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: "\\u%04x", scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
