// Files are little-endian and so is every host qkv supports; raw loads below rely on it.
#if _endian(big)
#error("qkv reads little-endian files with native loads; big-endian hosts are not supported")
#endif

/// Conversions between the float dtypes, on raw little-endian bytes.
public enum DTypeConversion {
    /// Converts `source` (elements of `from`) into `target` (elements of `to`). Both are float dtypes and
    /// `target` has room for the same element count. Rounds to nearest, ties to even; NaN stays NaN.
    public static func convert(_ source: UnsafeRawBufferPointer, from: DType, to: DType,
                               into target: UnsafeMutableRawBufferPointer) {
        precondition(from.isFloat && to.isFloat, "convert \(from) -> \(to)")
        let count = source.count / from.blockBytes
        precondition(target.count >= count * to.blockBytes)
        if from == to {
            target.copyMemory(from: source)
            return
        }
        // Every path goes through f32, which holds every f16 and bf16 value exactly.
        for i in 0..<count {
            let value: Float
            switch from {
            case .f32: value = source.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            case .f16: value = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            default: value = bfloat16ToFloat(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
            }
            switch to {
            case .f32: target.storeBytes(of: value, toByteOffset: i * 4, as: Float.self)
            case .f16: target.storeBytes(of: Float16(value).bitPattern, toByteOffset: i * 2, as: UInt16.self)
            default: target.storeBytes(of: floatToBFloat16(value), toByteOffset: i * 2, as: UInt16.self)
            }
        }
    }

    /// Q8_0 blocks (an f16 scale, then 32 int8) to f32, exactly: a product of an f16 and an int8 has at
    /// most 19 significant bits, so f32 holds it without rounding.
    public static func dequantizeQ8_0(_ view: TensorView) -> TensorView {
        precondition(view.dtype == .q8_0)
        var info = view.info
        info.dtype = .f32
        let storage = OwnedStorage(count: info.byteCount)
        let out = storage.mutableBytes.bindMemory(to: Float.self)
        view.withUnsafeBytes { bytes in
            for block in 0..<bytes.count / 34 {
                let scale = Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: block * 34, as: UInt16.self)))
                for i in 0..<32 {
                    out[block * 32 + i] = scale * Float(Int8(bitPattern: bytes[block * 34 + 2 + i]))
                }
            }
        }
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }

    /// bf16 is the top half of an f32: widening is a shift.
    @inlinable
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Rounds to the nearest bf16, ties to even, as PyTorch and numpy-based converters do; NaN becomes a
    /// quiet NaN with its sign (a plain truncation could turn a NaN's payload into infinity).
    @inlinable
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        // Adding 0x7FFF plus the lowest kept bit rounds half to even; overflow to infinity is correct.
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The first NaN or infinity in a float tensor, as (element index, value widened to f32).
    public static func firstNonFinite(_ view: TensorView) -> (index: Int, value: Float)? {
        view.withUnsafeBytes { firstNonFinite($0, dtype: view.dtype) }
    }

    /// The first NaN or infinity in raw elements of `dtype`.
    public static func firstNonFinite(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> (index: Int, value: Float)? {
        switch dtype {
        case .f32:
            for i in 0..<bytes.count / 4 {
                let v = bytes.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
                if !v.isFinite { return (i, v) }
            }
        case .f16:
            for i in 0..<bytes.count / 2 {
                let bits = bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                if bits & 0x7C00 == 0x7C00 { return (i, Float(Float16(bitPattern: bits))) }
            }
        case .bf16:
            for i in 0..<bytes.count / 2 {
                let bits = bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                if bits & 0x7F80 == 0x7F80 { return (i, bfloat16ToFloat(bits)) }
            }
        case .q8_0:
            // Only the scales are floats: each block starts with an f16.
            for block in 0..<bytes.count / 34 {
                let bits = bytes.loadUnaligned(fromByteOffset: block * 34, as: UInt16.self)
                if bits & 0x7C00 == 0x7C00 { return (block * 32, Float(Float16(bitPattern: bits))) }
            }
        default:
            break
        }
        return nil
    }
}
