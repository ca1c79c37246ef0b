/// One typed metadata value (Specs/schema.md, "Metadata"); the same set in `.qkv` and HDF5.
public enum MetadataValue: Equatable, Sendable, CustomStringConvertible {
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case int32Array([Int32])
    case int64Array([Int64])
    case float32Array([Float])
    case float64Array([Double])
    case stringArray([String])

    /// The type's name in the specs, for error messages.
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "string"
        case .int32Array: "int32[]"
        case .int64Array: "int64[]"
        case .float32Array: "float32[]"
        case .float64Array: "float64[]"
        case .stringArray: "string[]"
        }
    }

    public var isArray: Bool {
        switch self {
        case .bool, .int, .float, .string: false
        default: true
        }
    }

    /// A short rendering: scalars in full, arrays as their type and length.
    public var description: String {
        switch self {
        case .bool(let v): "\(v)"
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .int32Array(let v): "int32[\(v.count)]"
        case .int64Array(let v): "int64[\(v.count)]"
        case .float32Array(let v): "float32[\(v.count)]"
        case .float64Array(let v): "float64[\(v.count)]"
        case .stringArray(let v): "string[\(v.count)]"
        }
    }
}

/// The metadata sections of the schema; the first dot of a key ends its section.
public enum MetadataSection: String, CaseIterable, Sendable {
    case config, tokenizer, provenance, user
}

/// A model file's metadata: keys `section.name` to typed values, iterated in sorted key order so equal
/// models serialise to equal bytes.
public struct Metadata: Equatable, Sendable {
    public private(set) var values: [String: MetadataValue] = [:]

    public init() {}

    public subscript(key: String) -> MetadataValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// Keys in byte order.
    public var sortedKeys: [String] { values.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }

    public var count: Int { values.count }

    /// The keys of one section with the section prefix removed, sorted.
    public func names(in section: MetadataSection) -> [String] {
        let prefix = section.rawValue + "."
        return sortedKeys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Why `key` is not a valid metadata key, or nil when it is.
    public static func problem(withKey key: String) -> String? {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= maxKeyBytes else { return "key length must be 1 to \(maxKeyBytes) bytes" }
        guard let dot = key.firstIndex(of: ".") else { return "key has no section (expected section.name)" }
        let section = String(key[..<dot])
        guard MetadataSection(rawValue: section) != nil else {
            return "unknown section '\(section)' (expected one of \(MetadataSection.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
        let name = key[key.index(after: dot)...]
        guard !name.isEmpty else { return "key has an empty name after the section" }
        for byte in name.utf8 where !(isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")) {
            return "key contains the character \(Unicode.Scalar(byte).escaped(asASCII: true)); allowed are A-Z a-z 0-9 _ . -"
        }
        return nil
    }

    /// Longest key, in bytes (Specs/qkv-format.md, "Limits").
    public static let maxKeyBytes = 255

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}
