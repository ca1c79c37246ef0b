/// A ggml tensor type as GGUF stores it in a tensor info (an int32 code), with the block size and block
/// bytes of ggml's `type_traits` (ggml-org/ggml `src/ggml.c`, `src/ggml-common.h`).
///
/// Codes ggml removed from GGUF (4, 5, 31–33, 36–38) and codes past the last one are not cases: a file
/// holding one is rejected at open with `GGUFError.invalidTensorType`, as ggml rejects it.
public enum GGMLType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    /// Blocks of 32 along the first (fastest) dimension: an f16 scale, then 32 int8; qkv's `q8_0`.
    /// Every block type but Q8_1, Q8_K (ggml's scratch types for activations), NVFP4, Q1_0 and Q2_0 is a
    /// qkv dtype with the same bytes (Specs/quantization.md).
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq2_xxs = 16
    case iq2_xs = 17
    case iq3_xxs = 18
    case iq1_s = 19
    case iq4_nl = 20
    case iq3_s = 21
    case iq2_s = 22
    case iq4_xs = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case iq1_m = 29
    case bf16 = 30
    case tq1_0 = 34
    case tq2_0 = 35
    case mxfp4 = 39
    case nvfp4 = 40
    case q1_0 = 41
    case q2_0 = 42

    /// One past the largest code ggml knows (`GGML_TYPE_COUNT`).
    public static let codeLimit: UInt32 = 43

    /// The name of ggml's enum without its prefix (`Q4_K`, `BF16`), as gguf-py and GGUF viewers print it.
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq3_xxs: "IQ3_XXS"
        case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"
        case .iq3_s: "IQ3_S"
        case .iq2_s: "IQ2_S"
        case .iq4_xs: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_m: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        case .nvfp4: "NVFP4"
        case .q1_0: "Q1_0"
        case .q2_0: "Q2_0"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let match = GGMLType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// The name ggml gave a code it has since removed from GGUF files, or nil.
    public static func removedName(code: UInt32) -> String? {
        switch code {
        case 4: "Q4_2"
        case 5: "Q4_3"
        case 31: "Q4_0_4_4"
        case 32: "Q4_0_4_8"
        case 33: "Q4_0_8_8"
        case 36: "IQ4_NL_4_4"
        case 37: "IQ4_NL_4_8"
        case 38: "IQ4_NL_8_8"
        default: nil
        }
    }

    /// Values per block along the first dimension: 1 for plain types, 256 (`QK_K`) for the k-quants.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .nvfp4, .q2_0: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s, .iq2_s,
             .iq4_xs, .iq1_m, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block (per element for plain types): `sizeof(block_*)` in ggml-common.h.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0, .iq4_nl: 18      // f16 d + 16 bytes of nibbles
        case .q4_1: 20               // f16 d, m + 16
        case .q5_0: 22               // f16 d + u32 high bits + 16
        case .q5_1: 24
        case .q8_0: 34               // f16 d + 32 int8
        case .q8_1: 40               // f16 d, s + 32 int8
        case .mxfp4: 17              // e8m0 scale + 16
        case .nvfp4: 36              // 4 e4m3 scales + 32
        case .q1_0: 18               // f16 d + 128 bits
        case .q2_0: 18               // f16 d + 64 × 2 bits
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_xxs: 66
        case .iq2_xs: 74
        case .iq3_xxs: 98
        case .iq1_s: 50
        case .iq3_s: 110
        case .iq2_s: 82
        case .iq4_xs: 136
        case .iq1_m: 56
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// The qkv dtype with the same bytes, for the types `GGUFFile.tensor(_:)` views without copying.
    public var dtype: DType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .f64: .f64
        case .i8: .i8
        case .i16: .i16
        case .i32: .i32
        case .i64: .i64
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .q2_K: .q2_k
        case .q3_K: .q3_k
        case .q4_K: .q4_k
        case .q5_K: .q5_k
        case .q6_K: .q6_k
        case .iq4_nl: .iq4_nl
        case .iq4_xs: .iq4_xs
        case .iq1_s: .iq1_s
        case .iq1_m: .iq1_m
        case .iq2_xxs: .iq2_xxs
        case .iq2_xs: .iq2_xs
        case .iq2_s: .iq2_s
        case .iq3_xxs: .iq3_xxs
        case .iq3_s: .iq3_s
        case .tq1_0: .tq1_0
        case .tq2_0: .tq2_0
        case .mxfp4: .mxfp4
        default: nil
        }
    }

    /// The ggml type storing a qkv dtype, or nil (`u8` has none).
    public init?(_ dtype: DType) {
        guard let match = GGMLType.allCases.first(where: { $0.dtype == dtype }) else { return nil }
        self = match
    }

    /// Bytes of a tensor with GGUF dimensions `dims` (fastest first), or nil when the element count or
    /// byte count does not fit in an `Int`, a dimension is negative, or the first dimension is not a
    /// whole number of blocks.
    public func byteCount(dims: [Int]) -> Int? {
        var elements = 1
        for dim in dims {
            guard dim >= 0 else { return nil }
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            elements = product
        }
        // No dimensions is a scalar: ggml pads the dimensions with 1s, so ne[0] is 1.
        guard (dims.first ?? 1) % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}
