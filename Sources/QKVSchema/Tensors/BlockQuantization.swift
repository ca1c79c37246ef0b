/// ggml's block-quantized types widened to f32, block by block, exactly as ggml's `dequantize_row_*`
/// (Specs/quantization.md gives each block byte by byte).
///
/// Every value is computed with the same f32 operations in the same order as ggml's reference C (and
/// gguf-py's numpy port), so the results are bit-identical, NaN and infinity included: a scale is first
/// multiplied by its sub-block's integer scale, then by the quant, and offsets are subtracted or added
/// after the product, never fused.
public enum BlockQuantization {
    /// y [count · blockSize] = the `count` blocks of `dtype` at `blocks`, dequantized. `dtype` is block-quantized.
    public static func dequantize(_ blocks: UnsafeRawPointer, dtype: DType, count: Int, into y: UnsafeMutablePointer<Float>) {
        precondition(dtype.isBlockQuantized, "dequantize \(dtype)")
        let bytes = dtype.blockBytes, size = dtype.blockSize
        @inline(__always) func each(_ body: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
            for i in 0..<count { body(blocks + i &* bytes, y + i &* size) }
        }
        switch dtype {
        case .q8_0: each(q8_0)
        case .q4_0: each(q4_0)
        case .q4_1: each(q4_1)
        case .q5_0: each(q5_0)
        case .q5_1: each(q5_1)
        case .q2_k: each(q2_k)
        case .q3_k: each(q3_k)
        case .q4_k: each(q4_k)
        case .q5_k: each(q5_k)
        case .q6_k: each(q6_k)
        case .iq4_nl: each(iq4_nl)
        case .iq4_xs: each(iq4_xs)
        case .mxfp4: each(mxfp4)
        case .tq1_0: each(tq1_0)
        case .tq2_0: each(tq2_0)
        case .iq2_xxs:
            QuantGrids.iq2xxs.withUnsafeBufferPointer { grid in QuantGrids.ksigns.withUnsafeBufferPointer { signs in
                each { iq2_xxs($0, $1, grid.baseAddress!, signs.baseAddress!) } } }
        case .iq2_xs:
            QuantGrids.iq2xs.withUnsafeBufferPointer { grid in QuantGrids.ksigns.withUnsafeBufferPointer { signs in
                each { iq2_xs($0, $1, grid.baseAddress!, signs.baseAddress!) } } }
        case .iq2_s:
            QuantGrids.iq2s.withUnsafeBufferPointer { grid in each { iq2_s($0, $1, grid.baseAddress!) } }
        case .iq3_xxs:
            QuantGrids.iq3xxs.withUnsafeBufferPointer { grid in QuantGrids.ksigns.withUnsafeBufferPointer { signs in
                each { iq3_xxs($0, $1, grid.baseAddress!, signs.baseAddress!) } } }
        case .iq3_s:
            QuantGrids.iq3s.withUnsafeBufferPointer { grid in each { iq3_s($0, $1, grid.baseAddress!) } }
        case .iq1_s:
            QuantGrids.iq1s.withUnsafeBufferPointer { grid in each { iq1_s($0, $1, grid.baseAddress!) } }
        case .iq1_m:
            QuantGrids.iq1s.withUnsafeBufferPointer { grid in each { iq1_m($0, $1, grid.baseAddress!) } }
        default:
            preconditionFailure("dequantize \(dtype)")
        }
    }

    /// out [columns.count] = elements `columns` of one row of `dtype` blocks starting at `row`, any bounds:
    /// the blocks the range touches are dequantized whole and the range copied out.
    public static func dequantize(row: UnsafeRawPointer, dtype: DType, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let size = dtype.blockSize, bytes = dtype.blockBytes
        var c = columns.lowerBound, o = out
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { scratch in
            let block = scratch.baseAddress!
            while c < columns.upperBound {
                let b = c / size, start = c - b &* size
                let count = min(size - start, columns.upperBound - c)
                if start == 0 && count == size {
                    // Whole blocks straight into the output.
                    let whole = (columns.upperBound - c) / size
                    dequantize(row + b &* bytes, dtype: dtype, count: whole, into: o)
                    c &+= whole &* size
                    o += whole &* size
                    continue
                }
                dequantize(row + b &* bytes, dtype: dtype, count: 1, into: block)
                o.update(from: block + start, count: count)
                c &+= count
                o += count
            }
        }
    }

    /// The first NaN or infinity among the float scales of `dtype` blocks, as (index of the block's first
    /// element, the scale as f32). mxfp4's e8m0 scale has no NaN in ggml's reading (0xFF is 2^127).
    public static func firstNonFiniteScale(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> (index: Int, value: Float)? {
        let offsets: [Int] = switch dtype {
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .iq4_xs, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s: [0]
        case .q4_1, .q5_1, .q4_k, .q5_k: [0, 2]
        case .q2_k: [80, 82]
        case .q3_k: [108]
        case .q6_k: [208]
        case .tq1_0: [52]
        case .tq2_0: [64]
        default: []
        }
        let blockBytes = dtype.blockBytes
        for block in 0..<bytes.count / blockBytes {
            let base = block &* blockBytes
            if dtype == .iq1_m {
                let bits = iq1mScaleBits(bytes.baseAddress! + base)
                if bits & 0x7C00 == 0x7C00 { return (block * dtype.blockSize, half(bits)) }
                continue
            }
            for offset in offsets {
                let bits = bytes.loadUnaligned(fromByteOffset: base + offset, as: UInt16.self)
                if bits & 0x7C00 == 0x7C00 { return (block * dtype.blockSize, half(bits)) }
            }
        }
        return nil
    }

    // MARK: - Loads

    /// One f16 as f32, exactly (NaN payloads kept), with integer operations: `Float(Float16)` is a runtime
    /// call on baseline x86-64.
    @inline(__always)
    static func half(_ bits: UInt16) -> Float {
        let h = UInt32(bits), exponent = h & 0x7C00, sign = (h & 0x8000) &<< 16
        if exponent == 0x7C00 { return Float(bitPattern: sign | 0x7F80_0000 | (h & 0x03FF) &<< 13) }
        if exponent == 0 {
            let magnitude = Float(h & 0x03FF) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | (((h & 0x7FFF) &<< 13) &+ (112 &<< 23)))
    }

    @inline(__always) static func f16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        half(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }
    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    }
    @inline(__always) static func u32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    }

    /// IQ4_NL's and IQ4_XS's 16 non-linear levels.
    static let iq4Levels: SIMD16<Int8> = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
    /// MXFP4's e2m1 levels, doubled (the scale is halved to match).
    static let fp4Levels: SIMD16<Int8> = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// IQ1_M's f16 scale, kept in the top nibbles of its four u16 sub-block scale words (bytes 48..55).
    @inline(__always) static func iq1mScaleBits(_ b: UnsafeRawPointer) -> UInt16 {
        (u16(b, 48) >> 12) | ((u16(b, 50) >> 8) & 0x00F0) | ((u16(b, 52) >> 4) & 0x0F00) | (u16(b, 54) & 0xF000)
    }

    // MARK: - 32-value blocks

    /// q8_0 [34]: d f16, qs i8 [32]; y = d · q.
    @inline(__always) static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: u8(b, 2 &+ j))) }
    }

    /// q4_0 [18]: d f16, qs [16] (value j in the low nibble of byte j, value j+16 in its high nibble);
    /// y = d · (q - 8).
    @inline(__always) static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        for j in 0..<16 {
            let x = u8(b, 2 &+ j)
            y[j] = d * Float(Int32(x & 0x0F) &- 8)
            y[j &+ 16] = d * Float(Int32(x >> 4) &- 8)
        }
    }

    /// q4_1 [20]: d f16, m f16, qs [16] as q4_0; y = d · q + m.
    @inline(__always) static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), m = f16(b, 2)
        for j in 0..<16 {
            let x = u8(b, 4 &+ j)
            y[j] = d * Float(x & 0x0F) + m
            y[j &+ 16] = d * Float(x >> 4) + m
        }
    }

    /// q5_0 [22]: d f16, qh u32 (bit j: the fifth bit of value j), qs [16] as q4_0; y = d · (q - 16).
    @inline(__always) static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), qh = u32(b, 2)
        for j in 0..<16 {
            let x = u8(b, 6 &+ j)
            let h0 = UInt8(truncatingIfNeeded: (qh >> j) & 1) << 4, h1 = UInt8(truncatingIfNeeded: (qh >> (j &+ 16)) & 1) << 4
            y[j] = d * Float(Int32((x & 0x0F) | h0) &- 16)
            y[j &+ 16] = d * Float(Int32((x >> 4) | h1) &- 16)
        }
    }

    /// q5_1 [24]: d f16, m f16, qh u32, qs [16] as q5_0; y = d · q + m.
    @inline(__always) static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), m = f16(b, 2), qh = u32(b, 4)
        for j in 0..<16 {
            let x = u8(b, 8 &+ j)
            let h0 = UInt8(truncatingIfNeeded: (qh >> j) & 1) << 4, h1 = UInt8(truncatingIfNeeded: (qh >> (j &+ 16)) & 1) << 4
            y[j] = d * Float((x & 0x0F) | h0) + m
            y[j &+ 16] = d * Float((x >> 4) | h1) + m
        }
    }

    /// iq4_nl [18]: d f16, qs [16] as q4_0 indexing `iq4Levels`; y = d · level.
    @inline(__always) static func iq4_nl(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        for j in 0..<16 {
            let x = u8(b, 2 &+ j)
            y[j] = d * Float(iq4Levels[Int(x & 0x0F)])
            y[j &+ 16] = d * Float(iq4Levels[Int(x >> 4)])
        }
    }

    /// mxfp4 [17]: e u8 (e8m0 exponent), qs [16] as q4_0 indexing `fp4Levels`; y = 2^(e-128) · level.
    @inline(__always) static func mxfp4(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let e = UInt32(u8(b, 0))
        // ggml_e8m0_to_fp32_half: 2^(e-127) / 2, subnormal for e < 2.
        let d = Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << e : (e &- 1) << 23)
        for j in 0..<16 {
            let x = u8(b, 1 &+ j)
            y[j] = d * Float(fp4Levels[Int(x & 0x0F)])
            y[j &+ 16] = d * Float(fp4Levels[Int(x >> 4)])
        }
    }

    // MARK: - 256-value k-quants

    /// q2_k [84]: scales [16] (low nibble scale, high nibble min, per 16 values), qs [64] (2 bits),
    /// d f16, dmin f16. Value j·128 + l·32 + m is bits 2l of qs[j·32 + m]; y = (d·sc)·q - (dmin·mn).
    @inline(__always) static func q2_k(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 80), dmin = f16(b, 82)
        for j in 0..<2 {
            for l in 0..<4 {
                for half in 0..<2 {
                    let sc = u8(b, j &* 8 &+ l &* 2 &+ half)
                    let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                    for m in (half &* 16)..<(half &* 16 &+ 16) {
                        let q = (u8(b, 16 &+ j &* 32 &+ m) >> (2 &* l)) & 3
                        y[j &* 128 &+ l &* 32 &+ m] = dl * Float(q) - ml
                    }
                }
            }
        }
    }

    /// q3_k [110]: hmask [32], qs [64] (2 bits, as q2_k), scales [12] (16 six-bit scales), d f16.
    /// Value s·32 + m has high bit (hmask[m] >> s) & 1; q = low - (high ? 0 : 4); y = (d·(sc - 32))·q.
    @inline(__always) static func q3_k(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 108)
        for s in 0..<16 {
            let low = s < 8 ? u8(b, 96 &+ s) & 0x0F : u8(b, 96 &+ s &- 8) >> 4
            let high = (u8(b, 104 &+ s % 4) >> (2 &* (s / 4))) & 3
            let dl = d * Float(Int32(low | high << 4) &- 32)
            let j = s >> 3, l = (s & 7) >> 1, first = 16 &* (s & 1)
            let lowShift = UInt8(2 &* l), highShift = UInt8(j &* 4 &+ l)
            for m in first..<(first &+ 16) {
                let q2 = Int32((u8(b, 32 &+ j &* 32 &+ m) >> lowShift) & 3)
                let hi = (u8(b, m) >> highShift) & 1
                y[s &* 16 &+ m &- first] = dl * Float(q2 &- (hi == 0 ? 4 : 0))
            }
        }
    }

    /// The 6-bit scale and min of sub-block `s` (0..<8) from the 12 packed bytes at `p` (q4_k, q5_k).
    @inline(__always) static func scaleMinK4(_ p: UnsafeRawPointer, _ s: Int) -> (UInt8, UInt8) {
        if s < 4 { return (u8(p, s) & 63, u8(p, s &+ 4) & 63) }
        let sc = (u8(p, s &+ 4) & 0x0F) | ((u8(p, s &- 4) >> 6) << 4)
        let mn = (u8(p, s &+ 4) >> 4) | ((u8(p, s) >> 6) << 4)
        return (sc, mn)
    }

    /// q4_k [144]: d f16, dmin f16, scales [12] (8 six-bit scales and mins), qs [128]. Sub-block s (32
    /// values) takes nibble s % 2 of qs[(s / 2)·32 + m]; y = (d·sc)·q - (dmin·mn).
    @inline(__always) static func q4_k(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), dmin = f16(b, 2)
        for s in 0..<8 {
            let (sc, mn) = scaleMinK4(b + 4, s)
            let d1 = d * Float(sc), m1 = dmin * Float(mn)
            let shift = UInt8(4 &* (s & 1))
            for m in 0..<32 {
                let q = (u8(b, 16 &+ (s >> 1) &* 32 &+ m) >> shift) & 0x0F
                y[s &* 32 &+ m] = d1 * Float(q) - m1
            }
        }
    }

    /// q5_k [176]: d f16, dmin f16, scales [12] as q4_k, qh [32] (bit s of qh[m]: fifth bit of value
    /// s·32 + m), qs [128] as q4_k; y = (d·sc)·q - (dmin·mn).
    @inline(__always) static func q5_k(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), dmin = f16(b, 2)
        for s in 0..<8 {
            let (sc, mn) = scaleMinK4(b + 4, s)
            let d1 = d * Float(sc), m1 = dmin * Float(mn)
            let shift = UInt8(4 &* (s & 1))
            for m in 0..<32 {
                let q = ((u8(b, 48 &+ (s >> 1) &* 32 &+ m) >> shift) & 0x0F) | (((u8(b, 16 &+ m) >> s) & 1) << 4)
                y[s &* 32 &+ m] = d1 * Float(q) - m1
            }
        }
    }

    /// q6_k [210]: ql [128] (low 4 bits), qh [64] (high 2 bits), scales i8 [16] (per 16 values), d f16.
    /// Value j·128 + r: low nibble r / 64 of ql[j·64 + r % 64], high bits 2·(r / 32) of qh[j·32 + r % 32];
    /// y = (d·sc)·(q - 32).
    @inline(__always) static func q6_k(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 208)
        for j in 0..<2 {
            for l in 0..<4 {   // r = 32·l + m
                let lowShift = UInt8(4 &* (l >> 1)), highShift = UInt8(2 &* l)
                let qlOffset: Int = j &* 64 &+ 32 &* (l & 1), qhOffset: Int = 128 &+ j &* 32
                let ql = b + qlOffset, qh = b + qhOffset
                for half in 0..<2 {
                    let dsc = d * Float(Int8(bitPattern: u8(b, 192 &+ j &* 8 &+ l &* 2 &+ half)))
                    for m in (half &* 16)..<(half &* 16 &+ 16) {
                        let low = (u8(ql, m) >> lowShift) & 0x0F, high = (u8(qh, m) >> highShift) & 3
                        y[j &* 128 &+ l &* 32 &+ m] = dsc * Float(Int32(low | high << 4) &- 32)
                    }
                }
            }
        }
    }

    /// iq4_xs [136]: d f16, scales_h u16 (2 high bits per 32 values), scales_l [4] (nibbles), qs [128]
    /// (per 32 values: 16 bytes, low nibbles first) indexing `iq4Levels`; y = (d·(ls - 32))·level.
    @inline(__always) static func iq4_xs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), high = u16(b, 2)
        for ib in 0..<8 {
            let ls = ((u8(b, 4 &+ ib / 2) >> UInt8(4 &* (ib % 2))) & 0x0F) | UInt8(truncatingIfNeeded: (high >> (2 &* ib)) & 3) << 4
            let dl = d * Float(Int32(ls) &- 32)
            for j in 0..<16 {
                let x = u8(b, 8 &+ ib &* 16 &+ j)
                y[ib &* 32 &+ j] = dl * Float(iq4Levels[Int(x & 0x0F)])
                y[ib &* 32 &+ 16 &+ j] = dl * Float(iq4Levels[Int(x >> 4)])
            }
        }
    }

    // MARK: - Ternary

    /// tq1_0 [54]: qs [48] and qh [4] hold base-3 digits as fixed-point fractions, d f16. Digit n of byte
    /// x is ((x·3^n mod 256)·3) >> 8; y = d·(digit - 1).
    @inline(__always) static func tq1_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 52)
        let pow3: SIMD8<UInt8> = [1, 3, 9, 27, 81, 0, 0, 0]
        @inline(__always) func digit(_ x: UInt8, _ n: Int) -> Float {
            Float((Int32(x &* pow3[n]) &* 3) >> 8 &- 1)
        }
        for n in 0..<5 { for m in 0..<32 { y[n &* 32 &+ m] = d * digit(u8(b, m), n) } }
        for n in 0..<5 { for m in 0..<16 { y[160 &+ n &* 16 &+ m] = d * digit(u8(b, 32 &+ m), n) } }
        for n in 0..<4 { for m in 0..<4 { y[240 &+ n &* 4 &+ m] = d * digit(u8(b, 48 &+ m), n) } }
    }

    /// tq2_0 [66]: qs [64] (2 bits, as q2_k), d f16; y = d·(q - 1).
    @inline(__always) static func tq2_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 64)
        for j in 0..<2 {
            for l in 0..<4 {
                for m in 0..<32 {
                    let q = Int32((u8(b, j &* 32 &+ m) >> UInt8(2 &* l)) & 3)
                    y[j &* 128 &+ l &* 32 &+ m] = d * Float(q &- 1)
                }
            }
        }
    }

    // MARK: - i-quants with grids

    /// iq2_xxs [66]: d f16, then per 32 values two u32: grid indices (4 bytes, 8 values each) and
    /// 4 × 7 sign bits + a 4-bit scale; y = ((d·(0.5 + ls))·0.25)·grid·sign.
    @inline(__always) static func iq2_xxs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>,
                                          _ grid: UnsafePointer<UInt8>, _ ksigns: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let aux0 = u32(b, 2 &+ 8 &* ib), aux1 = u32(b, 6 &+ 8 &* ib)
            let db = d * (0.5 + Float(aux1 >> 28)) * 0.25
            for l in 0..<4 {
                let g = grid + Int((aux0 >> (8 &* l)) & 0xFF) &* 8
                let signs = ksigns[Int((aux1 >> (7 &* l)) & 127)]
                for j in 0..<8 {
                    y[ib &* 32 &+ l &* 8 &+ j] = db * Float(g[j]) * ((signs >> j) & 1 == 0 ? 1 : -1)
                }
            }
        }
    }

    /// iq2_xs [74]: d f16, qs u16 [32] (9-bit grid index, 7 sign bits), scales [8] (a nibble per 16
    /// values); y = ((d·(0.5 + ls))·0.25)·grid·sign.
    @inline(__always) static func iq2_xs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>,
                                         _ grid: UnsafePointer<UInt8>, _ ksigns: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let sc = u8(b, 66 &+ ib)
            let db0 = d * (0.5 + Float(sc & 0x0F)) * 0.25, db1 = d * (0.5 + Float(sc >> 4)) * 0.25
            for l in 0..<4 {
                let q = u16(b, 2 &+ 2 &* (4 &* ib &+ l))
                let g = grid + Int(q & 511) &* 8
                let signs = ksigns[Int(q >> 9)]
                let db = l < 2 ? db0 : db1
                for j in 0..<8 {
                    y[ib &* 32 &+ l &* 8 &+ j] = db * Float(g[j]) * ((signs >> j) & 1 == 0 ? 1 : -1)
                }
            }
        }
    }

    /// iq2_s [82]: d f16, qs [32] (grid index low bits), signs [32], qh [8] (2 high index bits each),
    /// scales [8] (a nibble per 16 values); y = ((d·(0.5 + ls))·0.25)·grid·sign.
    @inline(__always) static func iq2_s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ grid: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let sc = u8(b, 74 &+ ib), qh = u8(b, 66 &+ ib)
            let db0 = d * (0.5 + Float(sc & 0x0F)) * 0.25, db1 = d * (0.5 + Float(sc >> 4)) * 0.25
            for l in 0..<4 {
                let index = Int(u8(b, 2 &+ 4 &* ib &+ l)) | Int((qh >> UInt8(2 &* l)) & 3) << 8
                let g = grid + index &* 8
                let signs = u8(b, 34 &+ 4 &* ib &+ l)
                let db = l < 2 ? db0 : db1
                for j in 0..<8 {
                    y[ib &* 32 &+ l &* 8 &+ j] = db * Float(g[j]) * ((signs >> j) & 1 == 0 ? 1 : -1)
                }
            }
        }
    }

    /// iq3_xxs [98]: d f16, qs [64] (grid indices, 4 values each), then per 32 values a u32 of 4 × 7
    /// sign bits + a 4-bit scale; y = ((d·(0.5 + ls))·0.5)·grid·sign.
    @inline(__always) static func iq3_xxs(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>,
                                          _ grid: UnsafePointer<UInt8>, _ ksigns: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let aux = u32(b, 66 &+ 4 &* ib)
            let db = d * (0.5 + Float(aux >> 28)) * 0.5
            for l in 0..<4 {
                let signs = ksigns[Int((aux >> (7 &* l)) & 127)]
                let g1 = grid + Int(u8(b, 2 &+ 8 &* ib &+ 2 &* l)) &* 4, g2 = grid + Int(u8(b, 3 &+ 8 &* ib &+ 2 &* l)) &* 4
                for j in 0..<8 {
                    let g = j < 4 ? g1[j] : g2[j &- 4]
                    y[ib &* 32 &+ l &* 8 &+ j] = db * Float(g) * ((signs >> j) & 1 == 0 ? 1 : -1)
                }
            }
        }
    }

    /// iq3_s [110]: d f16, qs [64] (grid index low bits), qh [8] (ninth bits), signs [32], scales [4]
    /// (a nibble per 32 values); y = (d·(1 + 2·ls))·grid·sign.
    @inline(__always) static func iq3_s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ grid: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let ls = (u8(b, 106 &+ ib / 2) >> UInt8(4 &* (ib % 2))) & 0x0F
            let db = d * Float(1 &+ 2 &* ls)
            let qh = u8(b, 66 &+ ib)
            for l in 0..<4 {
                let i1 = Int(u8(b, 2 &+ 8 &* ib &+ 2 &* l)) | Int((qh >> UInt8(2 &* l)) & 1) << 8
                let i2 = Int(u8(b, 3 &+ 8 &* ib &+ 2 &* l)) | Int((qh >> UInt8(2 &* l &+ 1)) & 1) << 8
                let signs = u8(b, 74 &+ 4 &* ib &+ l)
                for j in 0..<8 {
                    let g = j < 4 ? grid[i1 &* 4 &+ j] : grid[i2 &* 4 &+ j &- 4]
                    y[ib &* 32 &+ l &* 8 &+ j] = db * Float(g) * ((signs >> j) & 1 == 0 ? 1 : -1)
                }
            }
        }
    }

    /// iq1_s [50]: d f16, qs [32] (grid index low bytes), qh u16 [8] (per 32 values: 4 × 3 high index
    /// bits, a 3-bit scale, the delta's sign); y = (d·(2·ls + 1))·(grid ± 0.125).
    @inline(__always) static func iq1_s(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ grid: UnsafePointer<UInt8>) {
        let d = f16(b, 0)
        for ib in 0..<8 {
            let h = u16(b, 34 &+ 2 &* ib)
            let dl = d * Float(2 &* ((h >> 12) & 7) &+ 1)
            let delta: Float = h & 0x8000 == 0 ? 0.125 : -0.125
            for l in 0..<4 {
                let g = grid + (Int(u8(b, 2 &+ 4 &* ib &+ l)) | Int((h >> UInt16(3 &* l)) & 7) << 8) &* 8
                for j in 0..<8 { y[ib &* 32 &+ l &* 8 &+ j] = dl * (Float(Int8(bitPattern: g[j])) + delta) }
            }
        }
    }

    /// iq1_m [56]: qs [32] (grid index low bytes), qh [16] (per 8 values a nibble: 3 high index bits,
    /// the delta's sign), scales u16 [4] (3-bit scales per 16 values; the f16 d in their top nibbles);
    /// y = (d·(2·ls + 1))·(grid ± 0.125).
    @inline(__always) static func iq1_m(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ grid: UnsafePointer<UInt8>) {
        let d = half(iq1mScaleBits(b))
        for ib in 0..<8 {
            let s = u16(b, 48 &+ 2 &* (ib / 2)), shift = UInt16(6 &* (ib % 2))
            let dl1 = d * Float(2 &* ((s >> shift) & 7) &+ 1), dl2 = d * Float(2 &* ((s >> (shift &+ 3)) & 7) &+ 1)
            for l in 0..<4 {
                let qh = u8(b, 32 &+ 2 &* ib &+ l / 2) >> UInt8(4 &* (l % 2))
                let g = grid + (Int(u8(b, 4 &* ib &+ l)) | Int(qh & 7) << 8) &* 8
                let delta: Float = qh & 8 == 0 ? 0.125 : -0.125
                let dl = l < 2 ? dl1 : dl2
                for j in 0..<8 { y[ib &* 32 &+ l &* 8 &+ j] = dl * (Float(Int8(bitPattern: g[j])) + delta) }
            }
        }
    }
}

// MARK: - Quantization to q4_0, q4_1, q5_0, q5_1

extension BlockQuantization {
    /// The dtypes `quantize` writes besides q8_0 (DTypeConversion.quantizeQ8_0).
    public static let quantizable: Set<DType> = [.q4_0, .q4_1, .q5_0, .q5_1]

    /// One block of `dtype` (q4_0, q4_1, q5_0 or q5_1) from x [32], as ggml's `quantize_row_*_ref` and
    /// gguf-py's `quantize` compute it, all in f32:
    /// - q4_0, q5_0: `max` is the value of largest magnitude (the first one on a tie), d = max / -8 (-16),
    ///   q = trunc(x · (1/d) + 8.5 (16.5)) clamped to 0...15 (31);
    /// - q4_1, q5_1: d = (max - min) / 15 (31), q = trunc((x - min) · (1/d) + 0.5) clamped, m = min;
    /// 1/d is 0 when d is 0; d and m are stored as the nearest f16 (ties to even), q uses the f32 d.
    public static func quantizeBlock(_ x: UnsafePointer<Float>, dtype: DType, into block: UnsafeMutableRawPointer) {
        precondition(quantizable.contains(dtype), "quantize to \(dtype)")
        let five = dtype == .q5_0 || dtype == .q5_1, top: Float = five ? 31 : 15
        var q = [UInt8](repeating: 0, count: 32)
        let d: Float, offset: Float, minimum: Float
        if dtype == .q4_0 || dtype == .q5_0 {
            // numpy's argmax of |x|: the first largest, or the first NaN.
            var amax = abs(x[0]), max = x[0]
            for j in 1..<32 where !amax.isNaN {
                let a = abs(x[j])
                if a.isNaN || a > amax { amax = a; max = x[j] }
            }
            d = max / (five ? -16 : -8)
            offset = five ? 16.5 : 8.5
            minimum = 0
        } else {
            // numpy's min and max: a NaN anywhere makes both NaN.
            var lo = x[0], hi = x[0]
            for j in 1..<32 {
                if x[j].isNaN || lo.isNaN { lo = .nan; hi = .nan; break }
                lo = Swift.min(lo, x[j]); hi = Swift.max(hi, x[j])
            }
            d = (hi - lo) / top
            offset = 0.5
            minimum = lo
        }
        let id: Float = d == 0 ? 0 : 1 / d
        for j in 0..<32 {
            let scaled = (dtype == .q4_0 || dtype == .q5_0) ? x[j] * id + offset : (x[j] - minimum) * id + offset
            let t = scaled.rounded(.towardZero)
            // Finite inputs give 0...top+1; NaN (undefined in ggml's cast) becomes 0.
            q[j] = t.isNaN ? 0 : UInt8(Swift.max(0, Swift.min(top, t)))
        }
        var at = 0
        block.storeBytes(of: Float16(d).bitPattern, toByteOffset: 0, as: UInt16.self)
        at = 2
        if dtype == .q4_1 || dtype == .q5_1 {
            block.storeBytes(of: Float16(minimum).bitPattern, toByteOffset: 2, as: UInt16.self)
            at = 4
        }
        if five {
            var qh: UInt32 = 0
            for j in 0..<32 { qh |= UInt32(q[j] >> 4) << j }
            block.storeBytes(of: qh, toByteOffset: at, as: UInt32.self)
            at += 4
        }
        for j in 0..<16 {
            block.storeBytes(of: (q[j] & 0x0F) | (q[j &+ 16] & 0x0F) << 4, toByteOffset: at &+ j, as: UInt8.self)
        }
    }
}
