import Foundation

/// A JSON request body read field by field, each field checked for its type and range: a wrong one is a
/// 400 naming it.
struct RequestBody {
    let fields: [String: Any]

    init(_ data: Data) throws(APIError) {
        guard !data.isEmpty else { throw .invalid("The request body is empty; expected a JSON object") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw .invalid("The request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw .invalid("The request body must be a JSON object") }
        fields = object
    }

    func has(_ name: String) -> Bool { fields[name] != nil && !(fields[name] is NSNull) }

    func string(_ name: String) throws(APIError) -> String? {
        guard has(name) else { return nil }
        guard let value = fields[name] as? String else { throw .invalid("'\(name)' must be a string", param: name) }
        return value
    }

    func requiredString(_ name: String) throws(APIError) -> String {
        guard let value = try string(name) else { throw .invalid("'\(name)' is required", param: name) }
        return value
    }

    func bool(_ name: String) throws(APIError) -> Bool? {
        guard has(name) else { return nil }
        guard let number = fields[name] as? NSNumber, isBool(number) else {
            throw .invalid("'\(name)' must be true or false", param: name)
        }
        return number.boolValue
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard has(name) else { return nil }
        guard let number = fields[name] as? NSNumber, !isBool(number),
              let value = Int(exactly: number.doubleValue), range.contains(value) else {
            throw .invalid("'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return value
    }

    func double(_ name: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard has(name) else { return nil }
        guard let number = fields[name] as? NSNumber, !isBool(number), range.contains(number.doubleValue) else {
            throw .invalid("'\(name)' must be a number from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return number.doubleValue
    }

    /// A list of documents, each a string or an object with a string `text` (Jina's and Cohere's form).
    func documents(_ name: String) throws(APIError) -> [String] {
        guard has(name) else { throw .invalid("'\(name)' is required", param: name) }
        guard let list = fields[name] as? [Any], !list.isEmpty else { throw .invalid("'\(name)' must be a non-empty list of strings", param: name) }
        var out: [String] = []
        for item in list {
            if let text = item as? String { out.append(text); continue }
            guard let object = item as? [String: Any], let text = object["text"] as? String else {
                throw .invalid("'\(name)' must list strings or objects with a string 'text'", param: name)
            }
            out.append(text)
        }
        return out
    }

    /// A string, a list of strings, a list of token ids, or a list of lists of token ids: OpenAI's
    /// `input`/`prompt`. Returns each item as text or as ids.
    func textsOrTokens(_ name: String) throws(APIError) -> [Either] {
        guard has(name) else { throw .invalid("'\(name)' is required", param: name) }
        let value = fields[name]!
        if let text = value as? String { return [.text(text)] }
        guard let list = value as? [Any], !list.isEmpty else {
            throw .invalid("'\(name)' must be a string, a non-empty list of strings, a list of token ids or a list of such lists", param: name)
        }
        if let ids = Self.tokenIDs(list) { return [.tokens(ids)] }
        var out: [Either] = []
        for item in list {
            if let text = item as? String { out.append(.text(text)); continue }
            if let inner = item as? [Any], !inner.isEmpty, let ids = Self.tokenIDs(inner) { out.append(.tokens(ids)); continue }
            throw .invalid("'\(name)' must be a string, a non-empty list of strings, a list of token ids or a list of such lists", param: name)
        }
        return out
    }

    /// JSON's true and false, which JSONSerialization also hands out as NSNumber (of C type `char`, which
    /// no JSON number gets).
    func isBool(_ number: NSNumber) -> Bool { Self.isBool(number) }
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    enum Either {
        case text(String)
        case tokens([Int])
    }

    /// A list of whole numbers ≥ 0 (not bools), or nil.
    static func tokenIDs(_ list: [Any]) -> [Int]? {
        var ids: [Int] = []
        for item in list {
            guard let number = item as? NSNumber, !Self.isBool(number),
                  let id = Int(exactly: number.doubleValue), id >= 0 else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// `stop`: a string or up to 4 strings (OpenAI's limit).
    func stopSequences() throws(APIError) -> [String] {
        guard has("stop") else { return [] }
        if let one = fields["stop"] as? String { return one.isEmpty ? [] : [one] }
        guard let list = fields["stop"] as? [String], list.count <= 4 else {
            throw .invalid("'stop' must be a string or a list of up to 4 strings", param: "stop")
        }
        return list.filter { !$0.isEmpty }
    }
}
