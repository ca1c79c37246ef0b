/// The element type of a tensor, with the code `.qkv` stores for it (Specs/schema.md, "Dtypes").
public enum DType: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 1
    case f16 = 2
    case bf16 = 3
    case f64 = 4
    case i8 = 8
    case u8 = 9
    case i16 = 10
    case i32 = 11
    case i64 = 12
    /// Blocks of 32 values along the last dimension: an f16 scale, then 32 int8.
    case q8_0 = 32

    /// The name used in specs, on the command line and in HDF5 `dtype` attributes.
    public var name: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .f64: "f64"
        case .i8: "i8"
        case .u8: "u8"
        case .i16: "i16"
        case .i32: "i32"
        case .i64: "i64"
        case .q8_0: "q8_0"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Values per block: 1 for plain types.
    public var blockSize: Int { self == .q8_0 ? 32 : 1 }

    /// Bytes per block (per element for plain types).
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8, .u8: 1
        case .q8_0: 34
        }
    }

    /// Floating-point types, the ones a model tensor may have and `--dtype` converts between.
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Types allowed for model tensors (Specs/schema.md).
    public var isModelType: Bool { isFloat || self == .q8_0 }

    /// Bytes needed for `shape`, or nil when the element count or the byte count overflows, or the last
    /// dimension is not a whole number of blocks.
    public func byteCount(for shape: [Int]) -> Int? {
        guard let elements = DType.elementCount(shape) else { return nil }
        if blockSize == 1 {
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: blockBytes)
            return overflow ? nil : bytes
        }
        guard let last = shape.last, last % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// The product of the dimensions, or nil on overflow or a negative dimension.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }
}
