import Dispatch

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

    /// A block-quantized tensor dequantized to f32 exactly as ggml's `dequantize_row_*` (BlockQuantization).
    /// For q8_0 the values are exact: a product of an f16 and an int8 has at most 19 significant bits.
    public static func dequantize(_ view: TensorView) -> TensorView {
        precondition(view.dtype.isBlockQuantized, "dequantize \(view.dtype)")
        var info = view.info
        info.dtype = .f32
        let storage = OwnedStorage(count: info.byteCount)
        let out = storage.mutableBytes.bindMemory(to: Float.self)
        view.withUnsafeBytes { bytes in
            BlockQuantization.dequantize(bytes.baseAddress!, dtype: view.dtype, count: bytes.count / view.dtype.blockBytes,
                                         into: out.baseAddress!)
        }
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }

    /// A q8_0 tensor as f32, exactly (`dequantize` for one dtype, kept for callers that name it).
    public static func dequantizeQ8_0(_ view: TensorView) -> TensorView {
        precondition(view.dtype == .q8_0)
        return dequantize(view)
    }

    /// A float tensor quantized to q8_0 as ggml's `quantize_row_q8_0_ref` does it, block by block of 32
    /// along the last dimension: d = max |x| / 127 in f32, stored as the nearest f16; each value
    /// q = round(x · (1 / d)) with ties away from zero (C's `roundf`), computed with the f32 d, not the
    /// stored f16 one; an all-zero block gets d = 0 and zeros. The last dimension is a multiple of 32.
    public static func quantizeQ8_0(_ view: TensorView) -> TensorView { quantize(view, to: .q8_0) }

    /// A float tensor quantized block by block along its last dimension (a multiple of the block size):
    /// q8_0 (`quantizeBlockQ8_0`), q4_0, q4_1, q5_0, q5_1 (`BlockQuantization.quantizeBlock`: bit-identical
    /// to gguf-py's `quantize`) or q2_k ... q6_k (`BlockQuantization.quantizeSuperBlock`: bit-identical to
    /// ggml's reference quantizers).
    public static func quantize(_ view: TensorView, to dtype: DType) -> TensorView {
        let size = dtype.blockSize
        precondition(view.dtype.isFloat && view.shape.count >= 2 && view.shape.last! % size == 0, "\(dtype) of \(view.dtype) \(view.shape)")
        precondition(dtype == .q8_0 || BlockQuantization.quantizable.contains(dtype) || BlockQuantization.superBlockQuantizable.contains(dtype))
        var info = view.info
        info.dtype = dtype
        let storage = OwnedStorage(count: info.byteCount)
        let out = storage.mutableBytes
        let elementBytes = view.dtype.blockBytes
        let blocks = view.info.elementCount / size, perChunk = 1024
        view.withUnsafeBytes { bytes in
            // Blocks are independent, so chunks of them are quantized on all cores at once: each writes
            // only its own blocks of `out`, and the bytes do not depend on how the work was shared. Both
            // buffers outlive `concurrentPerform`, which returns when every chunk has.
            nonisolated(unsafe) let bytes = bytes, out = out
            DispatchQueue.concurrentPerform(iterations: (blocks + perChunk - 1) / perChunk) { chunk in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: size) { block in
                    for b in (chunk * perChunk)..<min(blocks, (chunk + 1) * perChunk) {
                        let source = UnsafeRawBufferPointer(rebasing: bytes[(b * size * elementBytes)..<((b + 1) * size * elementBytes)])
                        convert(source, from: view.dtype, to: .f32, into: UnsafeMutableRawBufferPointer(block))
                        let values = UnsafePointer(block.baseAddress!), target = out.baseAddress! + b * dtype.blockBytes
                        switch dtype {
                        case .q8_0: quantizeBlockQ8_0(values, into: target)
                        case _ where size == 256: BlockQuantization.quantizeSuperBlock(values, dtype: dtype, into: target)
                        default: BlockQuantization.quantizeBlock(values, dtype: dtype, into: target)
                        }
                    }
                }
            }
        }
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }

    /// One q8_0 block (34 bytes: the f16 scale, then 32 int8) of x [32]; see `quantizeQ8_0`.
    public static func quantizeBlockQ8_0(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { let a = abs(x[j]); if a > amax { amax = a } }   // ggml's MAX: a NaN never wins
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        block.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
        for j in 0..<32 {
            let q = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            // |x · id| <= 127 for finite x; NaN (undefined behaviour in ggml's cast) becomes 0.
            let value: Int8 = q.isNaN ? 0 : Int8(max(-128, min(127, q)))
            block.storeBytes(of: value, toByteOffset: 2 + j, as: Int8.self)
        }
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
        case let blocked where blocked.isBlockQuantized:
            // Only the scales are floats.
            return BlockQuantization.firstNonFiniteScale(bytes, dtype: blocked)
        default:
            break
        }
        return nil
    }
}
