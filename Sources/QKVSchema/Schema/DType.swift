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
    // ggml's other block-quantized types, byte for byte as ggml stores them (Specs/quantization.md).
    case q4_0 = 33, q4_1 = 34, q5_0 = 35, q5_1 = 36
    case q2_k = 37, q3_k = 38, q4_k = 39, q5_k = 40, q6_k = 41
    case iq4_nl = 42, iq4_xs = 43
    // Dequantize-only: read, stored, converted to floats, never run from the mapping.
    case iq1_s = 44, iq1_m = 45, iq2_xxs = 46, iq2_xs = 47, iq2_s = 48, iq3_xxs = 49, iq3_s = 50
    case tq1_0 = 51, tq2_0 = 52, mxfp4 = 53

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
        case .q4_0: "q4_0"
        case .q4_1: "q4_1"
        case .q5_0: "q5_0"
        case .q5_1: "q5_1"
        case .q2_k: "q2_k"
        case .q3_k: "q3_k"
        case .q4_k: "q4_k"
        case .q5_k: "q5_k"
        case .q6_k: "q6_k"
        case .iq4_nl: "iq4_nl"
        case .iq4_xs: "iq4_xs"
        case .iq1_s: "iq1_s"
        case .iq1_m: "iq1_m"
        case .iq2_xxs: "iq2_xxs"
        case .iq2_xs: "iq2_xs"
        case .iq2_s: "iq2_s"
        case .iq3_xxs: "iq3_xxs"
        case .iq3_s: "iq3_s"
        case .tq1_0: "tq1_0"
        case .tq2_0: "tq2_0"
        case .mxfp4: "mxfp4"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Values per block: 1 for plain types, 32 for ggml's small blocks, 256 (`QK_K`) for the k-quants,
    /// the i-quants with super-blocks and the ternary types.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .u8, .i16, .i32, .i64: 1
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4: 32
        case .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs, .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s,
             .iq3_xxs, .iq3_s, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block (per element for plain types).
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8, .u8: 1
        case .q8_0: 34
        case .q4_0, .iq4_nl: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .mxfp4: 17
        case .q2_k: 84
        case .q3_k: 110
        case .q4_k: 144
        case .q5_k: 176
        case .q6_k: 210
        case .iq4_xs: 136
        case .iq1_s: 50
        case .iq1_m: 56
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq2_s: 82
        case .iq3_xxs: 98
        case .iq3_s: 110
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// Block-quantized types (ggml's blocks along the last dimension).
    public var isBlockQuantized: Bool { blockSize > 1 }

    /// Block types the inference kernels run from the mapping; the others are only dequantized.
    public var isRunnable: Bool {
        switch self {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .iq4_xs: true
        default: false
        }
    }

    /// Floating-point types, the ones a model tensor may have and `--dtype` converts between.
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Types allowed for model tensors (Specs/schema.md).
    public var isModelType: Bool { isFloat || isBlockQuantized }

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

    /// The shape of a tensor's bytes as a `u8` array: `shape` with the last dimension in bytes (blocks per
    /// row × block bytes), for containers that store blocks as bytes (HDF5). Plain types keep `shape`.
    public func byteShape(_ shape: [Int]) -> [Int] {
        guard isBlockQuantized, let last = shape.last else { return shape }
        return shape.dropLast() + [last / blockSize * blockBytes]
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
