import Foundation
import CQKVKernels
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The decoder's matrix-vector kernels over stored dtypes: f16 and bf16 bit-equal to widening then the
/// f32 kernel, q8_0 close to its exact dequantization, the widenings exact for every bit pattern, the
/// tile products equal to sgemm on the widened matrix, and the vectorised activations.
final class DecoderKernelTests: XCTestCase {
    /// Raw bytes of `values` in `dtype` (q8_0: quantized by rows of `columns`).
    func encode(_ values: [Float], _ dtype: DType, columns: Int) -> [UInt8] {
        let f32 = values.withUnsafeBytes { Array($0) }
        switch dtype {
        case .q8_0:
            var out = [UInt8](repeating: 0, count: values.count / 32 * 34)
            values.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBytes { o in
                    for b in 0..<values.count / 32 { DTypeConversion.quantizeBlockQ8_0(x.baseAddress! + b * 32, into: o.baseAddress! + b * 34) }
                }
            }
            return out
        default:
            var out = [UInt8](repeating: 0, count: values.count * dtype.blockBytes)
            f32.withUnsafeBytes { s in out.withUnsafeMutableBytes { DTypeConversion.convert(s, from: .f32, to: dtype, into: $0) } }
            return out
        }
    }

    /// W [rows, columns] widened row by row with the kernels' own widening.
    func widened(_ bytes: [UInt8], _ dtype: DType, rows: Int, columns: Int) -> [Float] {
        let rowBytes = dtype == .q8_0 ? columns / 32 * 34 : columns * dtype.blockBytes
        var out = [Float](repeating: 0, count: rows * columns)
        bytes.withUnsafeBytes { w in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows { widenRow(dtype, w.baseAddress!, rowBytes: rowBytes, row: r, columns: 0..<columns, into: o.baseAddress! + r * columns) }
            }
        }
        return out
    }

    /// Random values with a few zeros, negative zeros and f16 subnormals among them.
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(state >> 40) / Float(1 << 24) - 0.5
            switch i % 97 { case 3: return 0; case 5: return -0.0; case 7: return 3e-6 * u; default: return u * 0.2 }
        }
    }

    func rowKernel(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, k: Int) {
        switch dtype {
        case .f16: dotRows(F16Elements.self, w, rowBytes: rowBytes, x, y, rows: 0..<rows, k: k)
        case .bf16: dotRows(BF16Elements.self, w, rowBytes: rowBytes, x, y, rows: 0..<rows, k: k)
        case .q8_0: dotRowsQ8_0(w, x, y, rows: 0..<rows, k: k)
        default: dotRows(F32Elements.self, w, rowBytes: rowBytes, x, y, rows: 0..<rows, k: k)
        }
    }

    func columnKernel(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      columns: Range<Int>, k: Int) {
        switch dtype {
        case .f16: dotColumns(F16Elements.self, w, rowBytes: rowBytes, x, y, columns: columns, k: k)
        case .bf16: dotColumns(BF16Elements.self, w, rowBytes: rowBytes, x, y, columns: columns, k: k)
        case .q8_0: dotColumnsQ8_0(w, n: n, x, y, columns: columns, k: k)
        default: dotColumns(F32Elements.self, w, rowBytes: rowBytes, x, y, columns: columns, k: k)
        }
    }

    /// y = W x and y = xᵀ W in `dtype` against the f32 kernels on the widened W.
    func checkKernels(_ dtype: DType, rows: Int, columns: Int, exact: Bool) {
        let w = encode(values(rows * columns, seed: 1), dtype, columns: columns)
        let reference = widened(w, dtype, rows: rows, columns: columns).withUnsafeBytes { Array($0) }
        let rowBytes = dtype == .q8_0 ? columns / 32 * 34 : columns * dtype.blockBytes
        let x = values(max(rows, columns), seed: 2)
        var y = [Float](repeating: .nan, count: rows), want = y
        w.withUnsafeBytes { w in reference.withUnsafeBytes { r in x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { rowKernel(dtype, w.baseAddress!, rowBytes: rowBytes, x.baseAddress!, $0.baseAddress!, rows: rows, k: columns) }
            want.withUnsafeMutableBufferPointer { rowKernel(.f32, r.baseAddress!, rowBytes: columns * 4, x.baseAddress!, $0.baseAddress!, rows: rows, k: columns) }
        } } }
        compare(y, want, exact: exact, "\(dtype) rows \(rows)x\(columns)")

        // Two shares of the columns, as two threads take them (cut at 32).
        var yt = [Float](repeating: .nan, count: columns), wantT = yt
        let cut = columns / 64 * 32
        w.withUnsafeBytes { w in reference.withUnsafeBytes { r in x.withUnsafeBufferPointer { x in
            for share in [0..<cut, cut..<columns] {
                yt.withUnsafeMutableBufferPointer { columnKernel(dtype, w.baseAddress!, rowBytes: rowBytes, n: columns, x.baseAddress!, $0.baseAddress!, columns: share, k: rows) }
                wantT.withUnsafeMutableBufferPointer { columnKernel(.f32, r.baseAddress!, rowBytes: columns * 4, n: columns, x.baseAddress!, $0.baseAddress!, columns: share, k: rows) }
            }
        } } }
        compare(yt, wantT, exact: exact, "\(dtype) columns \(rows)x\(columns)")
    }

    func compare(_ y: [Float], _ want: [Float], exact: Bool, _ what: String) {
        let scale = want.map(abs).max()!
        for i in y.indices {
            if exact {
                XCTAssertEqual(y[i].bitPattern, want[i].bitPattern, "\(what)[\(i)]: \(y[i]) vs \(want[i])")
            } else {
                XCTAssertLessThanOrEqual(abs(y[i] - want[i]), 1e-5 * scale, "\(what)[\(i)]")
            }
        }
    }

    func testF16AndBF16Kernels_areBitEqualToWideningThenF32() {
        for (rows, columns) in [(37, 77), (8, 64), (5, 3), (67, 96)] {
            checkKernels(.f16, rows: rows, columns: columns, exact: true)
            checkKernels(.bf16, rows: rows, columns: columns, exact: true)
        }
    }

    func testQ8_0Kernels_matchTheDequantizedMatrix() {
        for (rows, columns) in [(37, 96), (8, 64), (67, 32)] {
            checkKernels(.q8_0, rows: rows, columns: columns, exact: false)
        }
    }

    /// y = W x and y = xᵀ W through the C kernels at the current level: f16 and bf16 bit-equal to the C
    /// f32 kernel on the widened W; q8_0 close to it; all close to the Swift kernels.
    func checkNativeKernels(_ dtype: DType, rows: Int, columns: Int, _ what: String) {
        let w = encode(values(rows * columns, seed: 5), dtype, columns: columns)
        let reference = widened(w, dtype, rows: rows, columns: columns).withUnsafeBytes { Array($0) }
        let rowBytes = dtype == .q8_0 ? columns / 32 * 34 : columns * dtype.blockBytes
        let x = values(max(rows, columns), seed: 6)
        let exact = dtype != .q8_0
        var y = [Float](repeating: .nan, count: rows), want = y, swift = y
        w.withUnsafeBytes { w in reference.withUnsafeBytes { r in x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { nativeDotRows(dtype, w.baseAddress!, rowBytes: rowBytes, x.baseAddress!, $0.baseAddress!, rows: 0..<rows, k: columns) }
            want.withUnsafeMutableBufferPointer { nativeDotRows(.f32, r.baseAddress!, rowBytes: columns * 4, x.baseAddress!, $0.baseAddress!, rows: 0..<rows, k: columns) }
            swift.withUnsafeMutableBufferPointer { rowKernel(dtype, w.baseAddress!, rowBytes: rowBytes, x.baseAddress!, $0.baseAddress!, rows: rows, k: columns) }
        } } }
        compare(y, want, exact: exact, "\(what) \(dtype) rows \(rows)x\(columns)")
        compare(y, swift, exact: false, "\(what) \(dtype) rows vs Swift \(rows)x\(columns)")

        var yt = [Float](repeating: .nan, count: columns), wantT = yt, swiftT = yt
        let cut = columns / 64 * 32
        w.withUnsafeBytes { w in reference.withUnsafeBytes { r in x.withUnsafeBufferPointer { x in
            for share in [0..<cut, cut..<columns] {
                yt.withUnsafeMutableBufferPointer { nativeDotColumns(dtype, w.baseAddress!, rowBytes: rowBytes, n: columns, x.baseAddress!, $0.baseAddress!, columns: share, k: rows) }
                wantT.withUnsafeMutableBufferPointer { nativeDotColumns(.f32, r.baseAddress!, rowBytes: columns * 4, n: columns, x.baseAddress!, $0.baseAddress!, columns: share, k: rows) }
                swiftT.withUnsafeMutableBufferPointer { columnKernel(dtype, w.baseAddress!, rowBytes: rowBytes, n: columns, x.baseAddress!, $0.baseAddress!, columns: share, k: rows) }
            }
        } } }
        compare(yt, wantT, exact: exact, "\(what) \(dtype) columns \(rows)x\(columns)")
        compare(yt, swiftT, exact: false, "\(what) \(dtype) columns vs Swift \(rows)x\(columns)")
    }

    func testNativeKernels_atEveryLevel_f16AndBF16BitEqualToF32_q8_0Close_allCloseToSwift() {
        let levels = NativeKernels.availableLevels
        // This project's machines have AVX-512; elsewhere at least the choice must be consistent.
        XCTAssertEqual(NativeKernels.enabled, !levels.isEmpty)
        for level in levels {
            NativeKernels.atLevel(level) {
                // Shapes that take every path: groups of four rows and rows left over, the 32-, 16- and
                // 8-wide steps and the scalar tail, shares of columns cut at 32.
                for (rows, columns) in [(37, 77), (8, 64), (5, 3), (67, 96), (9, 800), (6, 48)] {
                    checkNativeKernels(.f16, rows: rows, columns: columns, level.rawValue)
                    checkNativeKernels(.bf16, rows: rows, columns: columns, level.rawValue)
                }
                for (rows, columns) in [(37, 96), (8, 64), (67, 32), (9, 800)] {
                    checkNativeKernels(.q8_0, rows: rows, columns: columns, level.rawValue)
                }
            }
        }
    }

    func testHalfWidenings_equalFloatFromFloat16_forEveryBitPatternButNaNQuieting() {
        var bits = (0...UInt16.max).map { $0 }
        var wide = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBytes { b in
            wide.withUnsafeMutableBufferPointer { widenRow(.f16, b.baseAddress!, rowBytes: 0, row: 0, columns: 0..<65536, into: $0.baseAddress!) }
        }
        for (i, h) in bits.enumerated() {
            let want = Float(Float16(bitPattern: h))
            if want.isNaN {
                // A NaN stays a NaN with its payload; `Float(Float16)` also sets the quiet bit, ours need not.
                XCTAssertTrue(wide[i].isNaN && halfToFloat(h).isNaN, String(h, radix: 16))
                XCTAssertEqual(wide[i].bitPattern | 0x40_0000, want.bitPattern, String(h, radix: 16))
                continue
            }
            XCTAssertEqual(wide[i].bitPattern, want.bitPattern, "widenHalf8 \(String(h, radix: 16))")
            XCTAssertEqual(halfToFloat(h).bitPattern, want.bitPattern, "halfToFloat \(String(h, radix: 16))")
        }
        bits.removeAll()
    }

    /// The kernel for a few tokens, reading W in place: close to sgemm on the widened W, and f16/bf16
    /// bit-equal to the f32 kernel on the widened W; for every tail (tokens not a multiple of six or two,
    /// rows not of four, k over several slices) and rows cut into two shares. It runs at AVX-512 and
    /// AVX2 and must decline (return false) with the Swift kernels.
    func testDirectProducts_closeToSgemm_f16AndBF16BitEqualToF32() {
        for (m, n, k) in [(1, 5, 16), (7, 13, 48), (13, 9, 1040), (64, 37, 384), (6, 4, 512), (11, 8, 1536)] {
            for dtype in [DType.f32, .f16, .bf16] {
                let bytes = encode(values(n * k, seed: 11), dtype, columns: k)
                let reference = widened(bytes, dtype, rows: n, columns: k)
                let x = values(m * k, seed: 12)
                var y = [Float](repeating: .nan, count: m * n), viaF32 = y, want = y
                var ran = true
                let cut = n / 2 + 1
                bytes.withUnsafeBytes { w in reference.withUnsafeBytes { r in x.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { y in
                        for rows in [0..<cut, cut..<n] {
                            ran = nativeMultiplyRows(dtype, w.baseAddress!, rowBytes: k * dtype.blockBytes, k: k, x.baseAddress!, ldx: k, m: m,
                                                     y.baseAddress!, ldy: n, rows: rows) && ran
                        }
                    }
                    viaF32.withUnsafeMutableBufferPointer {
                        _ = nativeMultiplyRows(.f32, r.baseAddress!, rowBytes: k * 4, k: k, x.baseAddress!, ldx: k, m: m, $0.baseAddress!, ldy: n, rows: 0..<n)
                    }
                    want.withUnsafeMutableBufferPointer { matmulTransposed(x.baseAddress!, r.baseAddress!.assumingMemoryBound(to: Float.self), $0.baseAddress!, m: m, n: n, k: k) }
                } } }
                XCTAssertEqual(ran, NativeKernels.enabled, "\(dtype) \(m)x\(n)x\(k)")
                guard ran else { continue }
                compare(y, want, exact: false, "\(dtype) direct \(m)x\(n)x\(k)")
                compare(y, viaF32, exact: true, "\(dtype) direct vs f32 \(m)x\(n)x\(k)")
            }
        }
        // No tokens: nothing to compute and nothing written (not a division by zero in the prefetch share).
        var untouched: [Float] = [.nan]
        let w = encode(values(5 * 16, seed: 1), .f32, columns: 16), x: [Float] = [0]
        w.withUnsafeBytes { w in x.withUnsafeBufferPointer { x in untouched.withUnsafeMutableBufferPointer {
            _ = nativeMultiplyRows(.f32, w.baseAddress!, rowBytes: 64, k: 16, x.baseAddress!, ldx: 16, m: 0, $0.baseAddress!, ldy: 5, rows: 0..<5)
        } } }
        XCTAssertTrue(untouched[0].isNaN)
    }

    /// The C kernels of one attention head against sums in f64, in the decoder's layout and the encoder's
    /// (transposed keys, strided values): every tail (keys not a multiple of four, d not of 16, 32 or 64). On a processor without them, the Swift loops are in use instead.
    func testNativeAttentionKernels_matchDoublePrecisionSums() {
        guard NativeKernels.enabled else { return XCTAssertEqual(NativeKernels.level, .swift) }
        for (positions, d) in [(1, 8), (7, 64), (13, 72), (264, 64), (5, 136), (4, 16), (34, 32), (9, 104)] {
            let q = values(d, seed: 21), keys = values(positions * d, seed: 22), cache = values(positions * d, seed: 23)
            let p = values(positions, seed: 24).map(abs)
            let scale: Float = 0.125
            var scores = [Float](repeating: .nan, count: positions), z = [Float](repeating: .nan, count: d)
            // The encoder's layout: Kᵀ [d, width] (width the keys rounded up to 8), V's rows 3·d apart.
            let width = (positions + 7) / 8 * 8, ldv = 3 * d
            var transposed = [Float](repeating: 0, count: d * width), strided = [Float](repeating: 0, count: positions * ldv)
            for j in 0..<positions {
                for c in 0..<d { transposed[c * width + j] = keys[j * d + c]; strided[j * ldv + c] = cache[j * d + c] }
            }
            var scoresT = [Float](repeating: .nan, count: width), zStrided = z
            qkv_attention_scores(q, keys, positions, d, scale, &scores)
            qkv_attention_mix(p, cache, d, positions, d, 1, &z)
            qkv_attention_scores_transposed(q, transposed, width, d, scale, &scoresT)
            qkv_attention_mix(p, strided, ldv, positions, d, 0.5, &zStrided)
            for j in 0..<positions {
                let terms = (0..<d).map { Double(q[$0]) * Double(keys[j * d + $0]) }
                let want = terms.reduce(0, +) * Double(scale), bound = 1e-6 * terms.map(abs).reduce(0, +) * Double(scale) + 1e-30
                XCTAssertLessThanOrEqual(abs(Double(scores[j]) - want), bound, "scores[\(j)] \(positions)x\(d)")
                XCTAssertLessThanOrEqual(abs(Double(scoresT[j]) - want), bound, "transposed scores[\(j)] \(positions)x\(d)")
            }
            for j in positions..<width { XCTAssertEqual(scoresT[j], 0, "padding key \(j)") }
            for c in 0..<d {
                let terms = (0..<positions).map { Double(p[$0]) * Double(cache[$0 * d + c]) }
                let want = terms.reduce(0, +), bound = 1e-6 * terms.map(abs).reduce(0, +) + 1e-30
                XCTAssertLessThanOrEqual(abs(Double(z[c]) - want), bound, "z[\(c)] \(positions)x\(d)")
                XCTAssertLessThanOrEqual(abs(Double(zStrided[c]) - want / 2), bound / 2, "strided z[\(c)] \(positions)x\(d)")
            }
        }
    }

    func testTileProducts_equalSgemmOnTheWidenedMatrix() {
        for dtype in [DType.f16, .bf16, .q8_0] {
            let (n, k, m) = (70, 96, 5)
            let bytes = encode(values(n * k, seed: 3), dtype, columns: k)
            let reference = widened(bytes, dtype, rows: n, columns: k)
            let x = values(m * max(n, k), seed: 4)
            let info = TensorInfo(name: "w", role: nil, dtype: dtype, shape: [n, k])
            let storage = OwnedStorage(count: bytes.count)
            bytes.withUnsafeBytes { storage.mutableBytes.copyMemory(from: $0) }
            let matrix = try! WeightMatrix(OneTensorFile(TensorView(info: info, storage: storage, bytes: storage.bytes)), "w")
            var scratch = [Float](repeating: 0, count: 8 * k)   // a tile of 8 rows: several tiles
            var y = [Float](repeating: .nan, count: m * n), want = y
            x.withUnsafeBufferPointer { x in reference.withUnsafeBufferPointer { r in
                scratch.withUnsafeMutableBufferPointer { s in
                    y.withUnsafeMutableBufferPointer { matrix.multiply(x.baseAddress!, m: m, into: $0.baseAddress!, ldy: n, rows: 0..<n, scratch: s.baseAddress!, scratchFloats: 8 * k) }
                }
                want.withUnsafeMutableBufferPointer { matmulTransposed(x.baseAddress!, r.baseAddress!, $0.baseAddress!, m: m, n: n, k: k) }
            } }
            compare(y, want, exact: false, "\(dtype) tiles")
        }
    }

    func testGeluTanhAndSiluGate_matchTheScalarFormulas() {
        let xs = (-2000...2000).map { Float($0) / 100 } + [-1e4, 1e4, -88, 88, 0]
        var y = xs
        y.withUnsafeMutableBufferPointer { geluTanh($0.baseAddress!, count: $0.count) }
        for (i, v) in xs.enumerated() {
            let want = 0.5 * Double(v) * (1 + tanh(0.7978845608028654 * (Double(v) + 0.044715 * Double(v) * Double(v) * Double(v))))
            XCTAssertEqual(Double(y[i]), want, accuracy: 2e-6 * max(1, abs(want)), "gelu(\(v))")
        }
        var gate = xs
        let up = [Float](repeating: 1.5, count: xs.count)
        gate.withUnsafeMutableBufferPointer { g in up.withUnsafeBufferPointer { siluGate(g.baseAddress!, up: $0.baseAddress!, count: g.count) } }
        for (i, v) in xs.enumerated() {
            let want = Double(v) / (1 + exp(-Double(v))) * 1.5
            XCTAssertEqual(Double(gate[i]), want, accuracy: 2e-6 * max(1, abs(want)), "silu(\(v))")
        }
    }
}

/// A weight file holding one tensor, for building a `WeightMatrix` from bytes.
final class OneTensorFile: WeightFile {
    let path = "memory", format = ContainerFormat.qkv, metadata = Metadata()
    let view: TensorView
    init(_ view: TensorView) { self.view = view }
    var tensors: [TensorInfo] { [view.info] }
    func tensor(_ name: String) throws -> TensorView { view }
}
