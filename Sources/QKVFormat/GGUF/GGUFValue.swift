/// The type code of a GGUF metadata value (ggml `enum gguf_type`, stored as a u32).
public enum GGUFValueType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// ggml's short name (`u32`, `str`, `arr`), as its messages print it.
    public var name: String {
        switch self {
        case .uint8: "u8"
        case .int8: "i8"
        case .uint16: "u16"
        case .int16: "i16"
        case .uint32: "u32"
        case .int32: "i32"
        case .float32: "f32"
        case .bool: "bool"
        case .string: "str"
        case .array: "arr"
        case .uint64: "u64"
        case .int64: "i64"
        case .float64: "f64"
        }
    }

    public var description: String { name }

    /// The type ggml's short name names (`u32` -> `.uint32`), or nil.
    public init?(name: String) {
        guard let type = GGUFValueType.allCases.first(where: { $0.name == name }) else { return nil }
        self = type
    }

    /// Bytes of one value on disk; nil for strings (length-prefixed) and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }
}

/// A GGUF value's whole type: a scalar type, or an array and its element type. An import records each
/// kept key's type by `name` (`u32`, `array[f32]`) in `provenance.gguf_types`, so an export writes the
/// key back in the same type.
public enum GGUFStoredType: Equatable, Sendable, CustomStringConvertible {
    case scalar(GGUFValueType)
    /// An array of this element type (never `.array`: ggml reads one level only).
    case array(GGUFValueType)

    /// The type `value` is stored as.
    public init(of value: GGUFValue) {
        if case .array(let a) = value { self = .array(a.elementType) } else { self = .scalar(value.type) }
    }

    /// The type `name` spells (`u32`, `array[f32]`), or nil.
    public init?(name: String) {
        if name.hasPrefix("array["), name.hasSuffix("]") {
            guard let element = GGUFValueType(name: String(name.dropFirst("array[".count).dropLast())), element != .array else { return nil }
            self = .array(element)
        } else {
            guard let type = GGUFValueType(name: name), type != .array else { return nil }
            self = .scalar(type)
        }
    }

    /// `u32`, `array[f32]`: ggml's short names, as `provenance.gguf_types` records them.
    public var name: String {
        switch self {
        case .scalar(let type): type.name
        case .array(let element): "array[\(element.name)]"
        }
    }

    public var description: String { name }
}

/// A GGUF metadata value with its exact stored type, so writing it back gives the same bytes.
///
/// Equality compares floats by their bits (a NaN equals the same NaN, `0.0` differs from `-0.0`): two
/// values are equal when they would be written as the same bytes.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// Any integer type as an `Int64`, or nil (also for a u64 above `Int64.max`).
    public var integerValue: Int64? {
        switch self {
        case .uint8(let v): Int64(v)
        case .int8(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint64(let v): Int64(exactly: v)
        case .int64(let v): v
        default: nil
        }
    }

    /// An f32 or f64 as a `Double`, or nil.
    public var floatValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var arrayValue: GGUFArray? {
        if case .array(let v) = self { return v }
        return nil
    }

    public static func == (a: GGUFValue, b: GGUFValue) -> Bool {
        switch (a, b) {
        case let (.uint8(x), .uint8(y)): x == y
        case let (.int8(x), .int8(y)): x == y
        case let (.uint16(x), .uint16(y)): x == y
        case let (.int16(x), .int16(y)): x == y
        case let (.uint32(x), .uint32(y)): x == y
        case let (.int32(x), .int32(y)): x == y
        case let (.float32(x), .float32(y)): x.bitPattern == y.bitPattern
        case let (.bool(x), .bool(y)): x == y
        case let (.string(x), .string(y)): x.utf8.elementsEqual(y.utf8)
        case let (.array(x), .array(y)): x == y
        case let (.uint64(x), .uint64(y)): x == y
        case let (.int64(x), .int64(y)): x == y
        case let (.float64(x), .float64(y)): x.bitPattern == y.bitPattern
        default: false
        }
    }
}

/// A GGUF array: one element type (never `array`, ggml reads one level only), stored typed so that large
/// arrays (token lists, scores) cost their elements and nothing more.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8])
    case int8([Int8])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case float32([Float])
    case bool([Bool])
    case string([String])
    case uint64([UInt64])
    case int64([Int64])
    case float64([Double])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    public var count: Int {
        switch self {
        case .uint8(let v): v.count
        case .int8(let v): v.count
        case .uint16(let v): v.count
        case .int16(let v): v.count
        case .uint32(let v): v.count
        case .int32(let v): v.count
        case .float32(let v): v.count
        case .bool(let v): v.count
        case .string(let v): v.count
        case .uint64(let v): v.count
        case .int64(let v): v.count
        case .float64(let v): v.count
        }
    }

    /// Element `i` as a scalar value.
    public subscript(i: Int) -> GGUFValue {
        switch self {
        case .uint8(let v): .uint8(v[i])
        case .int8(let v): .int8(v[i])
        case .uint16(let v): .uint16(v[i])
        case .int16(let v): .int16(v[i])
        case .uint32(let v): .uint32(v[i])
        case .int32(let v): .int32(v[i])
        case .float32(let v): .float32(v[i])
        case .bool(let v): .bool(v[i])
        case .string(let v): .string(v[i])
        case .uint64(let v): .uint64(v[i])
        case .int64(let v): .int64(v[i])
        case .float64(let v): .float64(v[i])
        }
    }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
        switch (a, b) {
        case let (.uint8(x), .uint8(y)): x == y
        case let (.int8(x), .int8(y)): x == y
        case let (.uint16(x), .uint16(y)): x == y
        case let (.int16(x), .int16(y)): x == y
        case let (.uint32(x), .uint32(y)): x == y
        case let (.int32(x), .int32(y)): x == y
        case let (.float32(x), .float32(y)): x.map(\.bitPattern) == y.map(\.bitPattern)
        case let (.bool(x), .bool(y)): x == y
        case let (.string(x), .string(y)): x.count == y.count && zip(x, y).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
        case let (.uint64(x), .uint64(y)): x == y
        case let (.int64(x), .int64(y)): x == y
        case let (.float64(x), .float64(y)): x.map(\.bitPattern) == y.map(\.bitPattern)
        default: false
        }
    }
}
