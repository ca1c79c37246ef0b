import QKVFormat
import QKVTemplates

/// A JSON request body parsed once into the project's `JSONValue` and read field by field, each field
/// checked for its type and range: a wrong one is a 400 naming it.
struct RequestBody {
    /// The whole body, members in the order sent (the chat messages are rendered from it).
    let json: JSONValue
    /// The body's members by name; a name sent twice has its last value, as Python's `json` and
    /// Foundation's parser give it.
    let fields: [String: JSONValue]

    /// Bodies are untrusted: nesting deeper than this is refused before it can exhaust the stack. 512 is
    /// the depth the server has always read (Foundation's parser's limit, before this one).
    static let maxDepth = 512

    init(_ bytes: [UInt8]) throws(APIError) {
        guard !bytes.isEmpty else { throw .invalid("The request body is empty; expected a JSON object") }
        guard let utf8 = Self.utf8(bytes) else { throw .invalid("The request body is not valid JSON") }
        do { json = try JSONParser.parse(utf8, maxDepth: Self.maxDepth) } catch {
            throw .invalid("The request body is not valid JSON")
        }
        guard case .object(let members) = json else { throw .invalid("The request body must be a JSON object") }
        fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// The body as UTF-8, or nil if it is not text. JSON between systems is UTF-8, but Python's `json` and
    /// Foundation's parser also read UTF-16 and UTF-32 (told apart by where the zero bytes fall, RFC 4627
    /// §3) and a leading byte-order mark, so a client that sends those is still served. Transcoding is
    /// strict: an unpaired surrogate or a code point past U+10FFFF is not text.
    static func utf8(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { return utf8(utf32: bytes.dropFirst(4), bigEndian: true) }
        if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return utf8(utf32: bytes.dropFirst(4), bigEndian: false) }
        if bytes.starts(with: [0xFE, 0xFF]) { return utf8(utf16: bytes.dropFirst(2), bigEndian: true) }
        if bytes.starts(with: [0xFF, 0xFE]) { return utf8(utf16: bytes.dropFirst(2), bigEndian: false) }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return Array(bytes.dropFirst(3)) }
        // The first two characters of JSON text are ASCII, so their zero bytes tell the encoding.
        if bytes.count >= 4 {
            if bytes[0] == 0 { return bytes[1] != 0 ? utf8(utf16: bytes[...], bigEndian: true) : utf8(utf32: bytes[...], bigEndian: true) }
            if bytes[1] == 0 { return bytes[2] != 0 || bytes[3] != 0 ? utf8(utf16: bytes[...], bigEndian: false) : utf8(utf32: bytes[...], bigEndian: false) }
        } else if bytes.count == 2 {
            if bytes[0] == 0 { return utf8(utf16: bytes[...], bigEndian: true) }
            if bytes[1] == 0 { return utf8(utf16: bytes[...], bigEndian: false) }
        }
        return bytes
    }

    /// `bytes` read as code units `width` bytes wide, nil if they do not divide evenly.
    private static func codeUnits<Unit: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, as _: Unit.Type, bigEndian: Bool) -> [Unit]? {
        let width = MemoryLayout<Unit>.size
        guard bytes.count % width == 0 else { return nil }
        return stride(from: bytes.startIndex, to: bytes.endIndex, by: width).map { start in
            (0..<width).reduce(Unit.zero) { unit, k in unit | Unit(bytes[start + (bigEndian ? width - 1 - k : k)]) << (8 * k) }
        }
    }

    private static func utf8(utf16 bytes: ArraySlice<UInt8>, bigEndian: Bool) -> [UInt8]? {
        guard let units = codeUnits(bytes, as: UInt16.self, bigEndian: bigEndian) else { return nil }
        var out: [UInt8] = []
        let failed = transcode(units.makeIterator(), from: UTF16.self, to: UTF8.self, stoppingOnError: true) { out.append($0) }
        return failed ? nil : out
    }

    private static func utf8(utf32 bytes: ArraySlice<UInt8>, bigEndian: Bool) -> [UInt8]? {
        guard let units = codeUnits(bytes, as: UInt32.self, bigEndian: bigEndian) else { return nil }
        var out: [UInt8] = []
        for unit in units {
            guard let scalar = Unicode.Scalar(unit) else { return nil }
            out.append(contentsOf: UTF8.encode(scalar)!)
        }
        return out
    }

    /// Whether the body has `name` with a value other than null (a null field counts as absent).
    func has(_ name: String) -> Bool { value(name) != nil }

    /// The value of `name`, nil if absent or null.
    func value(_ name: String) -> JSONValue? {
        guard let value = fields[name], value != .null else { return nil }
        return value
    }

    func string(_ name: String) throws(APIError) -> String? {
        guard let value = value(name) else { return nil }
        guard case .string(let text) = value else { throw .invalid("'\(name)' must be a string", param: name) }
        return text
    }

    func requiredString(_ name: String) throws(APIError) -> String {
        guard let value = try string(name) else { throw .invalid("'\(name)' is required", param: name) }
        return value
    }

    func bool(_ name: String) throws(APIError) -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let flag) = value else { throw .invalid("'\(name)' must be true or false", param: name) }
        return flag
    }

    /// A whole number in `range`; `5.0` and `5e0` are whole numbers too.
    func int(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let value = value(name) else { return nil }
        guard let whole = Self.wholeNumber(value), range.contains(whole) else {
            throw .invalid("'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return whole
    }

    func double(_ name: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let value = value(name) else { return nil }
        guard let number = value.doubleValue, range.contains(number) else {
            throw .invalid("'\(name)' must be a number from \(range.lowerBound) to \(range.upperBound)", param: name)
        }
        return number
    }

    /// A list of documents, each a string or an object with a string `text` (Jina's and Cohere's form; a
    /// `text` given twice has its last value, as a name of the body does).
    func documents(_ name: String) throws(APIError) -> [String] {
        guard let value = value(name) else { throw .invalid("'\(name)' is required", param: name) }
        guard case .array(let list) = value, !list.isEmpty else { throw .invalid("'\(name)' must be a non-empty list of strings", param: name) }
        var out: [String] = []
        for item in list {
            if case .string(let text) = item { out.append(text); continue }
            guard case .string(let text)? = item.objectValue?.last(where: { $0.key == "text" })?.value else {
                throw .invalid("'\(name)' must list strings or objects with a string 'text'", param: name)
            }
            out.append(text)
        }
        return out
    }

    /// A string, a list of strings, a list of token ids, or a list of lists of token ids: OpenAI's
    /// `input`/`prompt`. Returns each item as text or as ids.
    func textsOrTokens(_ name: String) throws(APIError) -> [Either] {
        guard let value = value(name) else { throw .invalid("'\(name)' is required", param: name) }
        if case .string(let text) = value { return [.text(text)] }
        guard case .array(let list) = value, !list.isEmpty else {
            throw .invalid("'\(name)' must be a string, a non-empty list of strings, a list of token ids or a list of such lists", param: name)
        }
        if let ids = Self.tokenIDs(list) { return [.tokens(ids)] }
        var out: [Either] = []
        for item in list {
            if case .string(let text) = item { out.append(.text(text)); continue }
            if case .array(let inner) = item, !inner.isEmpty, let ids = Self.tokenIDs(inner) { out.append(.tokens(ids)); continue }
            throw .invalid("'\(name)' must be a string, a non-empty list of strings, a list of token ids or a list of such lists", param: name)
        }
        return out
    }

    enum Either {
        case text(String)
        case tokens([Int])
    }

    /// `name` as a list of token ids (llama-server's `/detokenize`).
    func tokenIDs(_ name: String) throws(APIError) -> [Int] {
        guard case .array(let list)? = value(name), let ids = Self.tokenIDs(list) else {
            throw .invalid("'\(name)' must be a list of token ids", param: name)
        }
        return ids
    }

    /// A list of whole numbers ≥ 0, or nil.
    static func tokenIDs(_ list: [JSONValue]) -> [Int]? {
        var ids: [Int] = []
        for item in list {
            guard let id = wholeNumber(item), id >= 0 else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// A number whose value is a whole `Int`: an integer's digits read exactly, any other number (`5.0`,
    /// `5e0`, `1e3`) through its Double, as OpenAI's Python server accepts them.
    static func wholeNumber(_ value: JSONValue) -> Int? {
        guard case .number(let digits) = value else { return nil }
        if let exact = Int(digits) { return exact }
        return Double(digits).flatMap { Int(exactly: $0) }
    }

    /// `stop`: a string or up to 4 strings (OpenAI's limit).
    func stopSequences() throws(APIError) -> [String] {
        guard let value = value("stop") else { return [] }
        if case .string(let one) = value { return one.isEmpty ? [] : [one] }
        let texts = value.arrayValue?.compactMap(\.stringValue)
        guard let texts, texts.count == value.arrayValue?.count, texts.count <= 4 else {
            throw .invalid("'stop' must be a string or a list of up to 4 strings", param: "stop")
        }
        return texts.filter { !$0.isEmpty }
    }
}
