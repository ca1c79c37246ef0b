import CQKVKernels
import QKVFormat

// Matrix-vector products straight from a weight's stored bytes (f32, f16, bf16 or q8_0), for decoding one
// token: every weight is read once per token, so the bytes read are the time, and reduced-precision
// weights are widened in registers, eight at a time, never copied. Shapes in the comments; callers own
// every buffer and guarantee the sizes. The products for many rows (a prompt) widen tiles of a weight
// into scratch and call sgemm on them (WeightMatrix).
//
// The kernels are generic over how eight values are widened (`WidenedElements`), so the f16 and bf16
// kernels do exactly the f32 kernel's arithmetic on the widened values (a test checks bit equality).
// These Swift kernels run where the C kernels (Sources/CQKVKernels, `NativeKernels`) cannot: a processor
// without AVX2/FMA/F16C, or QKV_KERNELS=swift; f32 then goes to OpenBLAS's sgemv (WeightMatrix).
// Swift compiles for baseline x86-64 here (SSE2): SIMD8<Float> is two SSE registers, and f16 is widened
// with integer operations rather than F16C, which `Float(Float16)` would need (without it, each value
// is a call to `__extendhfsf2`). Measured, one thread, a 3072 x 768 product hot in cache (2026-11-27):
// these kernels take 1484 µs (f16), 263 µs (bf16), 871 µs (q8_0); the same loops in C with AVX2, FMA and
// F16C take 178, 217 and 299 µs. That is why the C target exists; `tools/bench/decode.sh` measures both.
//
// Index arithmetic uses &+ and &*: every index is below a buffer's element count, which fits in Int.

/// How a dtype's elements become f32, eight (or one) at a time; `index` counts elements.
protocol WidenedElements {
    static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float>
    static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float
}

enum F32Elements: WidenedElements {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        row.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        row.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
    }
}

/// bf16 is the top half of an f32: widening is a 16-bit shift.
enum BF16Elements: WidenedElements {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        unsafeBitCast(load16x8(row, index &* 2) &<< 16, to: SIMD8<Float>.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        DTypeConversion.bfloat16ToFloat(row.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self))
    }
}

/// f16 to f32 exactly (`widenHalf8`): equal to `Float(Float16)` but that a NaN is not made quiet.
enum F16Elements: WidenedElements {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ index: Int) -> SIMD8<Float> {
        widenHalf8(load16x8(row, index &* 2))
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ index: Int) -> Float {
        halfToFloat(row.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self))
    }
}

/// Eight f16 bit patterns (in the low halves) as f32; see `F16Elements`. Integer operations and one
/// subtraction of normal floats: no lane selects (masks made by arithmetic instead) and no arithmetic on
/// subnormal f32, which costs a microcode assist per instruction (scaling f16 subnormals by 2^112 would
/// hit it, and random-init weights hold a few per thousand). Normal values: the exponent rebiased by
/// 127 - 15; infinity and NaN: the all-ones exponent ORed in; zero and subnormals: m · 2^-24 computed as
/// (1 + m/1024) · 2^-14 - 2^-14, exactly.
@inline(__always)
func widenHalf8(_ h: SIMD8<UInt32>) -> SIMD8<Float> {
    let exponent = h & 0x7C00
    let shifted = (h & 0x7FFF) &<< 13
    let special = 0 &- ((exponent &+ 0x0400) &>> 15)   // all ones where the exponent is all ones
    let normal = (shifted &+ (112 &<< 23)) | (special & 0x7F80_0000)
    let small = 0 &- ((exponent &- 1) &>> 31)          // all ones where the exponent is zero
    let subnormal = unsafeBitCast(unsafeBitCast(shifted &+ (113 &<< 23), to: SIMD8<Float>.self) - 0x1p-14, to: SIMD8<UInt32>.self)
    return unsafeBitCast((subnormal & small) | (normal & ~small) | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
}

/// Eight 16-bit values from p + offset, zero-extended. Written lane by lane, which LLVM turns into two
/// unpacks; `SIMD8<UInt32>(truncatingIfNeeded:)` stays a generic call per vector here.
@inline(__always)
func load16x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    let v = p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt16>.self)
    return SIMD8<UInt32>(UInt32(v[0]), UInt32(v[1]), UInt32(v[2]), UInt32(v[3]), UInt32(v[4]), UInt32(v[5]), UInt32(v[6]), UInt32(v[7]))
}

/// Eight int8 from p + offset as f32 (lane by lane, for the reason in `load16x8`: unpacks, a shift, a
/// conversion).
@inline(__always)
func widenInt8x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    let v = p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self)
    return SIMD8<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
}

/// The f16 scale of a q8_0 block as f32.
@inline(__always)
func q8Scale(_ block: UnsafeRawPointer) -> Float {
    halfToFloat(block.loadUnaligned(as: UInt16.self))
}

/// One f16 as f32, exactly, with integer operations: `Float(Float16)` is a call to the runtime's
/// `__extendhfsf2` on baseline x86-64 (a quarter of a q8_0 decode's time when it widened the scales).
@inline(__always)
func halfToFloat(_ bits: UInt16) -> Float {
    let h = UInt32(bits), exponent = h & 0x7C00, sign = (h & 0x8000) &<< 16
    if exponent == 0x7C00 { return Float(bitPattern: sign | 0x7F80_0000 | (h & 0x03FF) &<< 13) }   // inf, NaN
    if exponent == 0 {   // zero, subnormal: m · 2^-24
        let magnitude = Float(h & 0x03FF) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | (((h & 0x7FFF) &<< 13) &+ (112 &<< 23)))
}

/// The bytes of one q8_0 block: an f16 scale, then 32 int8.
let q8BlockBytes = 34

// MARK: - y = W x (W stored [rows, k], as PyTorch's Linear)

/// y [r] = W [r, :] · x for r in `rows`; W [*, k] of elements E, rows `rowBytes` apart; x [k].
/// Four rows at a time, so four sequential streams are in flight from each thread (one stream left the
/// kernel waiting on memory: 61% of a bf16 decode's samples on one load) and each x load serves four
/// rows. Every row sums in the same order (one accumulator of eight, then its lanes, then the tail),
/// whether it goes in a group of four or alone.
@inline(__always)
func dotRows<E: WidenedElements>(_: E.Type, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>,
                                 _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, k: Int) {
    var r = rows.lowerBound
    while r &+ 4 <= rows.upperBound {
        let r0 = w + r &* rowBytes, r1 = r0 + rowBytes, r2 = r1 + rowBytes, r3 = r2 + rowBytes
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var i = 0
        while i &+ 8 <= k {
            let xi = load8(x + i)
            a0 += E.load8(r0, i) * xi
            a1 += E.load8(r1, i) * xi
            a2 += E.load8(r2, i) * xi
            a3 += E.load8(r3, i) * xi
            i &+= 8
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        while i < k {
            s0 += E.load1(r0, i) * x[i]; s1 += E.load1(r1, i) * x[i]
            s2 += E.load1(r2, i) * x[i]; s3 += E.load1(r3, i) * x[i]
            i &+= 1
        }
        y[r] = s0; y[r &+ 1] = s1; y[r &+ 2] = s2; y[r &+ 3] = s3
        r &+= 4
    }
    while r < rows.upperBound {
        let r0 = w + r &* rowBytes
        var a0 = SIMD8<Float>()
        var i = 0
        while i &+ 8 <= k { a0 += E.load8(r0, i) * load8(x + i); i &+= 8 }
        var s0 = a0.sum()
        while i < k { s0 += E.load1(r0, i) * x[i]; i &+= 1 }
        y[r] = s0
        r &+= 1
    }
}

/// y [r] = W [r, :] · x for r in `rows`, W [*, k] in q8_0 (k a multiple of 32): per block, the 32
/// products summed in f32, times the block's scale, accumulated; four rows at a time as `dotRows`.
func dotRowsQ8_0(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, k: Int) {
    let blocks = k / 32, rowBytes = blocks &* q8BlockBytes
    @inline(__always) func blockDot(_ q: UnsafeRawPointer, _ xi: UnsafePointer<Float>) -> SIMD8<Float> {
        (widenInt8x8(q, 2) * load8(xi) + widenInt8x8(q, 10) * load8(xi + 8))
            + (widenInt8x8(q, 18) * load8(xi + 16) + widenInt8x8(q, 26) * load8(xi + 24))
    }
    var r = rows.lowerBound
    while r &+ 4 <= rows.upperBound {
        var b0 = w + r &* rowBytes, b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var xi = x
        for _ in 0..<blocks {
            a0 += q8Scale(b0) * blockDot(b0, xi)
            a1 += q8Scale(b1) * blockDot(b1, xi)
            a2 += q8Scale(b2) * blockDot(b2, xi)
            a3 += q8Scale(b3) * blockDot(b3, xi)
            b0 += q8BlockBytes; b1 += q8BlockBytes; b2 += q8BlockBytes; b3 += q8BlockBytes
            xi += 32
        }
        y[r] = a0.sum(); y[r &+ 1] = a1.sum(); y[r &+ 2] = a2.sum(); y[r &+ 3] = a3.sum()
        r &+= 4
    }
    while r < rows.upperBound {
        var b0 = w + r &* rowBytes
        var a0 = SIMD8<Float>()
        var xi = x
        for _ in 0..<blocks { a0 += q8Scale(b0) * blockDot(b0, xi); b0 += q8BlockBytes; xi += 32 }
        y[r] = a0.sum()
        r &+= 1
    }
}

// MARK: - y = xᵀ W (W stored [k, n]: the attention output projection, [H·d, D])

/// y [c] = Σ_i x [i] · W [i, c] for c in `columns`; W [k, *] of elements E, rows `rowBytes` apart.
/// Four rows at a time, each read along the whole share of columns (sequential runs the prefetcher
/// follows; walking down one column block row by row would touch one cache line per row), added into y,
/// which stays in L1; then the rows left one at a time.
@inline(__always)
func dotColumns<E: WidenedElements>(_: E.Type, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>,
                                    _ y: UnsafeMutablePointer<Float>, columns: Range<Int>, k: Int) {
    let lower = columns.lowerBound, upper = columns.upperBound
    for c in columns { y[c] = 0 }
    var i = 0
    while i &+ 4 <= k {
        let r0 = w + i &* rowBytes, r1 = r0 + rowBytes, r2 = r1 + rowBytes, r3 = r2 + rowBytes
        let x0 = SIMD8<Float>(repeating: x[i]), x1 = SIMD8<Float>(repeating: x[i &+ 1])
        let x2 = SIMD8<Float>(repeating: x[i &+ 2]), x3 = SIMD8<Float>(repeating: x[i &+ 3])
        var c = lower
        while c &+ 8 <= upper {
            store8(load8(y + c) + ((x0 * E.load8(r0, c) + x1 * E.load8(r1, c)) + (x2 * E.load8(r2, c) + x3 * E.load8(r3, c))), y + c)
            c &+= 8
        }
        while c < upper {
            y[c] += (x[i] * E.load1(r0, c) + x[i &+ 1] * E.load1(r1, c)) + (x[i &+ 2] * E.load1(r2, c) + x[i &+ 3] * E.load1(r3, c))
            c &+= 1
        }
        i &+= 4
    }
    while i < k {
        let r0 = w + i &* rowBytes, x0 = SIMD8<Float>(repeating: x[i])
        var c = lower
        while c &+ 8 <= upper { store8(load8(y + c) + x0 * E.load8(r0, c), y + c); c &+= 8 }
        while c < upper { y[c] += x[i] * E.load1(r0, c); c &+= 1 }
        i &+= 1
    }
}

/// y [c] = Σ_i x [i] · W [i, c] for c in `columns` (bounds multiples of 32), W [k, n] in q8_0 (blocks
/// along each row): as `dotColumns`, each row's block scaled by x [i] · its scale.
func dotColumnsQ8_0(_ w: UnsafeRawPointer, n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    columns: Range<Int>, k: Int) {
    let rowBytes = n / 32 &* q8BlockBytes
    let firstBlock = columns.lowerBound / 32, blocks = columns.count / 32
    for c in columns { y[c] = 0 }
    var i = 0
    while i < k {
        let rows = min(2, k &- i)
        let b0 = w + i &* rowBytes + firstBlock &* q8BlockBytes
        let b1 = rows == 2 ? b0 + rowBytes : b0
        let x0 = x[i], x1 = rows == 2 ? x[i &+ 1] : 0
        var out = y + columns.lowerBound
        for b in 0..<blocks {
            let p0 = b0 + b &* q8BlockBytes, p1 = b1 + b &* q8BlockBytes
            let s0 = SIMD8<Float>(repeating: x0 * q8Scale(p0)), s1 = SIMD8<Float>(repeating: x1 * q8Scale(p1))
            for j in stride(from: 0, to: 32, by: 8) {
                store8(load8(out + j) + (s0 * widenInt8x8(p0 + 2, j) + s1 * widenInt8x8(p1 + 2, j)), out + j)
            }
            out += 32
        }
        i &+= rows
    }
}

// MARK: - ggml's other block types (q4_0 … q6_k, iq4_nl, iq4_xs)

/// y [r] = W [r, :] · x for r in `rows`, W [*, k] in block type `dtype` (k a multiple of its block size,
/// rows `rowBytes` apart): each block widened (BlockQuantization, as ggml) into 256 floats on the stack,
/// then multiplied with x's slice into one accumulator of eight, whose lanes are summed at the end.
func dotRowsBlocks(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>,
                   _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, k: Int) {
    let size = dtype.blockSize, bytes = dtype.blockBytes, blocks = k / size
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
        let block = buffer.baseAddress!
        for r in rows {
            let row = w + r &* rowBytes
            var acc = SIMD8<Float>()
            for b in 0..<blocks {
                BlockQuantization.dequantize(row + b &* bytes, dtype: dtype, count: 1, into: block)
                let xb = x + b &* size
                for j in stride(from: 0, to: size, by: 8) { acc += load8(block + j) * load8(xb + j) }
            }
            y[r] = acc.sum()
        }
    }
}

/// y [c] = Σ_i x [i] · W [i, c] for c in `columns` (any bounds), W [k, n] in block type `dtype` (rows
/// `rowBytes` apart): row by row, the columns' blocks widened into a scratch row, then added scaled by x [i].
func dotColumnsBlocks(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>,
                      _ y: UnsafeMutablePointer<Float>, columns: Range<Int>, k: Int) {
    guard !columns.isEmpty else { return }
    for c in columns { y[c] = 0 }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: columns.count) { buffer in
        let row = buffer.baseAddress!, out = y + columns.lowerBound, n = columns.count
        for i in 0..<k {
            BlockQuantization.dequantize(row: w + i &* rowBytes, dtype: dtype, columns: columns, into: row)
            let xi = x[i], s = SIMD8<Float>(repeating: xi)
            var c = 0
            while c &+ 8 <= n { store8(load8(out + c) + s * load8(row + c), out + c); c &+= 8 }
            while c < n { out[c] += xi * row[c]; c &+= 1 }
        }
    }
}

// MARK: - Widening tiles (for sgemm over many rows) and single rows (embeddings)

/// out [columns.count] = W [r, columns] widened to f32, exactly (block types as ggml dequantizes them),
/// any bounds: q8_0 from a lower bound inside a block goes the general block path.
func widenRow(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, row r: Int, columns: Range<Int>,
              into out: UnsafeMutablePointer<Float>) {
    let row = w + r &* rowBytes
    if dtype.isBlockQuantized && (dtype != .q8_0 || columns.lowerBound % 32 != 0) {
        let size = dtype.blockSize
        if dtype != .q8_0, NativeKernels.enabled, columns.lowerBound % size == 0, columns.count % size == 0,
           qkv_widen_blocks(CInt(dtype.rawValue), row + columns.lowerBound / size &* dtype.blockBytes, out, columns.count / size) != 0 {
            return
        }
        return BlockQuantization.dequantize(row: row, dtype: dtype, columns: columns, into: out)
    }
    if NativeKernels.enabled {
        switch dtype {
        case .f16: return qkv_widen_f16(row + columns.lowerBound &* 2, out, columns.count)
        case .bf16: return qkv_widen_bf16(row + columns.lowerBound &* 2, out, columns.count)
        case .q8_0 where columns.count % 32 == 0: return qkv_widen_q8_0(row + columns.lowerBound / 32 &* q8BlockBytes, out, columns.count / 32)
        default: break
        }
    }
    switch dtype {
    case .f16: widen(F16Elements.self, row, columns, out)
    case .bf16: widen(BF16Elements.self, row, columns, out)
    case .q8_0:
        var c = columns.lowerBound, o = out
        while c < columns.upperBound {
            let block = row + c / 32 &* q8BlockBytes
            let scale = q8Scale(block)
            let count = min(32, columns.upperBound &- c)
            if count == 32 {
                for j in stride(from: 0, to: 32, by: 8) { store8(scale * widenInt8x8(block + 2, j), o + j) }
            } else {
                for j in 0..<count { o[j] = scale * Float(Int8(bitPattern: block.load(fromByteOffset: 2 &+ j, as: UInt8.self))) }
            }
            c &+= count
            o += count
        }
    default: widen(F32Elements.self, row, columns, out)
    }
}

@inline(__always)
private func widen<E: WidenedElements>(_: E.Type, _ row: UnsafeRawPointer, _ columns: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
    var c = columns.lowerBound, o = out
    while c &+ 8 <= columns.upperBound { store8(E.load8(row, c), o); c &+= 8; o += 8 }
    while c < columns.upperBound { o.pointee = E.load1(row, c); c &+= 1; o += 1 }
}
