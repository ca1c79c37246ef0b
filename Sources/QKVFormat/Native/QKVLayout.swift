/// The constants of Specs/qkv-format.md, shared by reader and writer.
enum QKVLayout {
    static let magic: [UInt8] = [0x89, 0x51, 0x4B, 0x56, 0x0D, 0x0A, 0x1A, 0x0A]
    static let majorVersion: UInt16 = 1
    static let minorVersion: UInt16 = 0
    static let byteOrderMark: UInt32 = 0x0A0B_0C0D
    static let headerSize = 64
    /// Bytes of the fixed header covered by the header CRC (everything before the CRC itself).
    static let checksummedHeaderBytes = 56
    static let alignment = 64

    static let maxMetadataLength: UInt64 = 1 << 30
    static let maxTableLength: UInt64 = 256 << 20
    static let maxTensorCount: UInt64 = 1 << 20
    static let maxNameBytes = 1024
    static let maxRank = 8

    /// Metadata value type codes.
    enum ValueType: UInt8 {
        case bool = 1, int = 2, float = 3, string = 4
        case int32Array = 16, int64Array = 17, float32Array = 18, float64Array = 19, stringArray = 20
    }

    /// Block fields of a table entry for `dtype`: (block size, scale dtype code, layout). Block types
    /// store ggml's blocks as they are (layout 1); mxfp4's scale is an e8m0 byte (scale code 9, `u8`).
    static func blockFields(for dtype: DType) -> (UInt16, UInt8, UInt8) {
        guard dtype.isBlockQuantized else { return (0, 0, 0) }
        return (UInt16(dtype.blockSize), dtype == .mxfp4 ? DType.u8.rawValue : DType.f16.rawValue, 1)
    }

    /// `value` rounded up to a multiple of 64; nil on overflow.
    static func align(_ value: UInt64) -> UInt64? {
        let (sum, overflow) = value.addingReportingOverflow(UInt64(alignment - 1))
        return overflow ? nil : sum & ~UInt64(alignment - 1)
    }
}
