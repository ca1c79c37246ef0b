/// One architecture's Hugging Face table as data (each file in Architectures/ makes one): which source
/// tensor (Hugging Face name, prefix removed) each canonical tensor comes from, and how.
struct ArchitectureMap: Sendable {
    /// One table row; `{i}` stands for the layer index in both names.
    struct Row: Sendable {
        var canonical: String
        var source: String
        var transform: TensorTransform = .view
        init(_ canonical: String, _ source: String, _ transform: TensorTransform = .view) {
            self.canonical = canonical
            self.source = source
            self.transform = transform
        }
    }

    var family: ModelConfig.Family
    /// Prefixes transformers puts before the names (model classes with heads): removed when present.
    var prefixes: [String]
    /// Source tensors that are buffers, not weights; dropped (names after prefix removal, `{i}` allowed).
    var buffers: [String]
    var rows: [Row]

    /// The row for canonical tensor `name`, with `{i}` filled in.
    func row(for name: String) -> Row? {
        for row in rows {
            if row.canonical == name { return row }
            guard row.canonical.contains("{i}") else { continue }
            let parts = row.canonical.components(separatedBy: "{i}")
            guard name.hasPrefix(parts[0]), name.hasSuffix(parts[1]) else { continue }
            let index = name.dropFirst(parts[0].count).dropLast(parts[1].count)
            guard !index.isEmpty, index.allSatisfy(\.isNumber) else { continue }
            return Row(name, row.source.replacingOccurrences(of: "{i}", with: String(index)), row.transform)
        }
        return nil
    }

    /// Whether `name` (prefix removed) is a buffer to drop.
    func isBuffer(_ name: String) -> Bool {
        buffers.contains { pattern in
            let parts = pattern.components(separatedBy: "{i}")
            if parts.count == 1 { return name == pattern }
            guard name.hasPrefix(parts[0]), name.hasSuffix(parts[1]) else { return false }
            return name.dropFirst(parts[0].count).dropLast(parts[1].count).allSatisfy(\.isNumber)
        }
    }

    func strippingPrefix(_ name: String) -> String {
        for prefix in prefixes where name.hasPrefix(prefix) { return String(name.dropFirst(prefix.count)) }
        return name
    }
}

/// Typed reads of `config.json` fields that name the field in errors.
struct HFConfigReader {
    let json: JSONValue
    let file: String

    func int(_ field: String, default fallback: Int? = nil) throws -> Int {
        if let v = try optionalInt(field) { return v }
        if let fallback { return fallback }
        throw ImportError.configField(file: file, field: field, reason: "is required but missing")
    }

    func optionalInt(_ field: String) throws -> Int? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.int64Value, let i = Int(exactly: v) else {
            throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected an integer")
        }
        return i
    }

    func double(_ field: String, default fallback: Double) throws -> Double {
        guard let value = json[field], value != .null else { return fallback }
        guard let v = value.doubleValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a number") }
        return v
    }

    func bool(_ field: String, default fallback: Bool) throws -> Bool {
        guard let value = json[field], value != .null else { return fallback }
        guard let v = value.boolValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected true or false") }
        return v
    }

    func optionalDouble(_ field: String) throws -> Double? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.doubleValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a number") }
        return v
    }

    func optionalString(_ field: String) throws -> String? {
        guard let value = json[field], value != .null else { return nil }
        guard let v = value.stringValue else { throw ImportError.configField(file: file, field: field, reason: "is \(value.text), expected a string") }
        return v
    }

    /// Hugging Face activation names to the schema's.
    func activation(_ field: String, default fallback: String) throws -> ModelConfig.Activation {
        let name = try optionalString(field) ?? fallback
        switch name {
        case "gelu": return .geluErf
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        case "silu", "swish": return .silu
        default: throw ImportError.configField(file: file, field: field, reason: "is \"\(name)\"; supported are gelu, gelu_new, gelu_pytorch_tanh, silu")
        }
    }
}
