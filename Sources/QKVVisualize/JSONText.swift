/// JSON written as text piece by piece: strings escaped, floats in a fixed form, objects with their keys
/// in the order given, so output is deterministic and big float arrays never become boxed values.
enum JSONText {
    /// `text` as a JSON string. Besides what JSON requires, `<`, `>`, `&`, U+2028 and U+2029 are written
    /// as `\uXXXX`, so the text is also safe inside an HTML `<script>` element (`</script>` cannot occur).
    static func string(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}": out += unicodeEscape(scalar.value)
            case _ where scalar.value < 0x20: out += unicodeEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// A float: its shortest round-tripping decimal, or rounded to `digits` decimals; NaN and infinities
    /// (which JSON cannot hold) as `null`.
    static func number(_ value: Float, digits: Int? = nil) -> String {
        guard value.isFinite else { return "null" }
        if let digits { return TextFormat.compact(value, digits) }
        return "\(value)"
    }

    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }

    /// `[a,b,...]` of floats.
    static func numbers<C: Collection>(_ values: C, digits: Int? = nil) -> String where C.Element == Float {
        "[" + values.map { number($0, digits: digits) }.joined(separator: ",") + "]"
    }

    /// `[a,b,...]` of values already written as JSON.
    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// `{"k":v,...}` of values already written as JSON, keys in the order given.
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}
