import CQKVKernels
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Products from the mapping for every runnable block type (the "<type>.matrix" tensors of
/// Fixtures/quant/blocks.gguf, tools/fixtures_quant.py) against the same product on the dequantized f32
/// matrix (BlockQuantizationTests checks that dequantization bit for bit against gguf-py), summed in
/// Double: one token by rows and by columns, every share boundary and tail, and many tokens through
/// the widened tiles and sgemm. The tolerance is f32 summation order: 1e-5 of Σ |w·x|. The C row kernels
/// also run on each block of the "<type>" tensors alone (zero, -0, negative, subnormal, largest, infinite
/// and NaN f16 scales; all-zero and all-ones quant bytes), against gguf-py's "<type>.f32" and the Swift path.
final class BlockKernelTests: XCTestCase {
    let file = try! RawGGUF(path: TestFiles.root.appendingPathComponent("Fixtures/quant/blocks.gguf").path)
    let runnable = DType.allCases.filter(\.isRunnable)

    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(Int(state % 2001) - 1000) / 1000
        }
    }

    /// (matrix in place, its f32 dequantization [rows · columns]).
    func matrix(_ dtype: DType) throws -> (WeightMatrix, [Float]) {
        let w = try WeightMatrix(file, dtype.name + ".matrix")
        XCTAssertEqual(w.dtype, dtype, "kept in place, not widened at load")
        let dense = DTypeConversion.dequantize(try file.tensor(dtype.name + ".matrix")).withUnsafeBufferPointer(of: Float.self) { Array($0) }
        return (w, dense)
    }

    /// y [rows of w] = W · x_t for `rows` (NaN elsewhere), x_t the token-th row of x [*, columns]: what
    /// a token's row of a several-token product must equal bit for bit.
    func oneTokenProduct(_ w: WeightMatrix, _ x: [Float], token t: Int, rows share: Range<Int>) -> [Float] {
        var alone = [Float](repeating: .nan, count: w.rows)
        Array(x[(t * w.columns)..<((t + 1) * w.columns)]).withUnsafeBufferPointer { xt in
            alone.withUnsafeMutableBufferPointer { w.multiplyVector(xt.baseAddress!, into: $0.baseAddress!, rows: share) }
        }
        return alone
    }

    func check(_ got: Float, _ want: Double, _ bound: Double, _ what: String) {
        XCTAssertLessThanOrEqual(abs(Double(got) - want), 1e-5 * bound + 1e-30, "\(what): \(got) vs \(want)")
    }

    func testMatrixVector_everyRunnableType_byRowsAndByColumns() throws {
        XCTAssertEqual(Set(runnable), [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .iq4_xs])
        for dtype in runnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            let x = values(columns, seed: 7)
            var y = [Float](repeating: .nan, count: rows)
            for share in [0..<rows, 0..<5, 5..<13, 12..<13] {
                y.withUnsafeMutableBufferPointer { w.multiplyVector(x, into: $0.baseAddress!, rows: share) }
                for r in share {
                    let terms = (0..<columns).map { Double(dense[r * columns + $0]) * Double(x[$0]) }
                    check(y[r], terms.reduce(0, +), terms.map(abs).reduce(0, +), "\(dtype) row \(r) of \(share)")
                }
            }
            let xt = values(rows, seed: 9)
            var yt = [Float](repeating: .nan, count: columns)
            for share in [0..<columns, 0..<32, 32..<columns, 1..<37, 37..<columns, (columns - 3)..<columns] {
                yt.withUnsafeMutableBufferPointer { w.multiplyVectorTransposed(xt, into: $0.baseAddress!, columns: share) }
                for c in share {
                    let terms = (0..<rows).map { Double(dense[$0 * columns + c]) * Double(xt[$0]) }
                    check(yt[c], terms.reduce(0, +), terms.map(abs).reduce(0, +), "\(dtype) column \(c) of \(share)")
                }
            }
        }
    }

    /// The block types with a C row kernel (qkv_dot_rows_blocks): every runnable one but q8_0, which has its own.
    var nativeBlockTypes: [DType] { runnable.filter { $0 != .q8_0 } }

    func testNativeRowKernels_everyRunnableBlockType_matchTheReferenceAndSwift_everyRowShare() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        XCTAssertEqual(Set(nativeBlockTypes), [.q4_0, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .iq4_xs])
        for dtype in DType.allCases where dtype.isRunnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            let x = values(columns, seed: 17)
            var native = [Float](repeating: .nan, count: rows), swift = native
            for share in [0..<rows, 0..<4, 4..<13, 12..<13, 3..<3] {
                let ran = native.withUnsafeMutableBufferPointer {
                    qkv_dot_rows_blocks(CInt(dtype.rawValue), w.base, w.rowBytes, x, $0.baseAddress!, share.lowerBound, share.upperBound, columns)
                }
                XCTAssertEqual(ran != 0, nativeBlockTypes.contains(dtype), "\(dtype)")
                guard ran != 0 else { continue }
                swift.withUnsafeMutableBufferPointer { dotRowsBlocks(dtype, w.base, rowBytes: w.rowBytes, x, $0.baseAddress!, rows: share, k: columns) }
                for r in share {
                    let terms = (0..<columns).map { Double(dense[r * columns + $0]) * Double(x[$0]) }
                    let bound = terms.map(abs).reduce(0, +)
                    check(native[r], terms.reduce(0, +), bound, "\(dtype) C row \(r) of \(share)")
                    check(native[r], Double(swift[r]), bound, "\(dtype) C vs Swift row \(r)")
                }
            }
        }
    }

    /// The special blocks, one row each (k = the block size): each block's y from the C kernel against the
    /// sum of gguf-py's dequantization times x in Double and against the Swift path. A sum that is NaN or
    /// infinite in the reference (a NaN or infinite scale) must be the same NaN-ness or infinity in both.
    func testNativeRowKernels_specialBlocks_oneBlockPerRow() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in nativeBlockTypes {
            let view = try file.tensor(dtype.name)
            let reference = try file.tensor(dtype.name + ".f32").withUnsafeBufferPointer(of: Float.self) { Array($0) }
            let size = dtype.blockSize, bytes = dtype.blockBytes, blocks = reference.count / size
            XCTAssertEqual(view.info.elementCount, blocks * size)
            let x = values(size, seed: 23)
            var native = [Float](repeating: .pi, count: blocks), swift = native
            try view.withUnsafeBytes { raw in
                let w = try XCTUnwrap(raw.baseAddress)
                XCTAssertEqual(raw.count, blocks * bytes)
                let ran = native.withUnsafeMutableBufferPointer {
                    qkv_dot_rows_blocks(CInt(dtype.rawValue), w, bytes, x, $0.baseAddress!, 0, blocks, size)
                }
                XCTAssertNotEqual(ran, 0, "\(dtype)")
                swift.withUnsafeMutableBufferPointer { dotRowsBlocks(dtype, w, rowBytes: bytes, x, $0.baseAddress!, rows: 0..<blocks, k: size) }
            }
            var nonFinite = 0
            for b in 0..<blocks {
                let terms = (0..<size).map { Double(reference[b * size + $0]) * Double(x[$0]) }
                let want = terms.reduce(0, +), what = "\(dtype) block \(b)"
                if want.isNaN {
                    XCTAssertTrue(native[b].isNaN, "\(what): C \(native[b]), want NaN")
                    XCTAssertTrue(swift[b].isNaN, "\(what): Swift \(swift[b]), want NaN")
                    nonFinite += 1
                } else if want.isInfinite {
                    XCTAssertEqual(Double(native[b]), want, "\(what): C")
                    XCTAssertEqual(Double(swift[b]), want, "\(what): Swift")
                    nonFinite += 1
                } else {
                    let bound = terms.map(abs).reduce(0, +)
                    check(native[b], want, bound, "\(what) C")
                    check(native[b], Double(swift[b]), bound, "\(what) C vs Swift")
                }
            }
            XCTAssertGreaterThan(nonFinite, 0, "\(dtype): the fixture plants infinite and NaN scales")
            XCTAssertLessThan(nonFinite, blocks, "\(dtype): finite blocks too")
        }
    }

    func testManyTokens_everyRunnableType_throughWidenedTiles() throws {
        let scratchFloats = WeightMatrix.tileFloats
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
        defer { scratch.deallocate() }
        for dtype in runnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            for m in [3, 70] {
                let x = values(m * columns, seed: 11)
                var y = [Float](repeating: .nan, count: m * rows)
                y.withUnsafeMutableBufferPointer { out in
                    w.multiply(x, m: m, into: out.baseAddress!, ldy: rows, rows: 0..<6, scratch: scratch, scratchFloats: scratchFloats)
                    w.multiply(x, m: m, into: out.baseAddress!, ldy: rows, rows: 6..<rows, scratch: scratch, scratchFloats: scratchFloats)
                }
                for t in 0..<m { for r in 0..<rows {
                    let terms = (0..<columns).map { Double(dense[r * columns + $0]) * Double(x[t * columns + $0]) }
                    check(y[t * rows + r], terms.reduce(0, +), terms.map(abs).reduce(0, +), "\(dtype) token \(t) row \(r)")
                } }
                let xt = values(m * rows, seed: 13)
                var yt = [Float](repeating: .nan, count: m * columns)
                yt.withUnsafeMutableBufferPointer { out in
                    w.multiplyTransposed(xt, m: m, into: out.baseAddress!, ldy: columns, columns: 0..<32, scratch: scratch, scratchFloats: scratchFloats)
                    w.multiplyTransposed(xt, m: m, into: out.baseAddress!, ldy: columns, columns: 32..<columns, scratch: scratch, scratchFloats: scratchFloats)
                }
                for t in 0..<m { for c in 0..<columns {
                    let terms = (0..<rows).map { Double(dense[$0 * columns + c]) * Double(xt[t * rows + $0]) }
                    check(yt[t * columns + c], terms.reduce(0, +), terms.map(abs).reduce(0, +), "\(dtype) token \(t) column \(c)")
                } }
            }
        }
    }

    /// A few tokens (a batched decode step, a short prompt) through a block type with f32 activations: each
    /// token's row of Y bit-equal to its own one-token product, for every share, below and above the count
    /// from which the C kernel dequantizes each row once for all tokens (`qkv_gemm_rows_blocks`; q8_0's
    /// `qkv_gemm_rows_q8_0`).
    func testFewTokens_everyRunnableBlockType_eachRowIsItsOwnOneTokenProduct() throws {
        XCTAssertTrue(NativeKernels.availableLevels.contains(.avx2), "the C kernels need AVX2 on this machine")
        let scratchFloats = WeightMatrix.tileFloats
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
        defer { scratch.deallocate() }
        let matrices = try runnable.map { try WeightMatrix(file, $0.name + ".matrix") }
        // At the AVX2 level, which every type's few-token kernel matches (q8_0's sixteen-lane one-token kernel
        // sums in another order, and a q8_0 step there goes to sgemm).
        NativeKernels.atLevel(.avx2) {
            for w in matrices {
                let (rows, columns) = (w.rows, w.columns)
                for m in [2, 3, 5, WeightMatrix.directBlockTokens] {
                    let x = values(m * columns, seed: 43)
                    for share in [0..<rows, 3..<11] {
                        var y = [Float](repeating: .nan, count: m * rows)
                        y.withUnsafeMutableBufferPointer {
                            w.multiply(x, m: m, into: $0.baseAddress!, ldy: rows, rows: share, scratch: scratch, scratchFloats: scratchFloats)
                        }
                        for t in 0..<m {
                            let alone = oneTokenProduct(w, x, token: t, rows: share)
                            XCTAssertEqual(share.map { y[t * rows + $0].bitPattern }, share.map { alone[$0].bitPattern },
                                           "\(w.dtype) token \(t) of \(m), rows \(share)")
                        }
                    }
                }
            }
        }
    }

    /// The row kernels' width: eight lanes at the AVX2 level, sixteen when a test forces the AVX-512 level,
    /// and at this process's level as the vendor decides (AMD eight, Intel sixteen). q8_0's few-token kernel
    /// runs exactly where the one-token kernel is eight lanes wide, whose sums it repeats.
    func testRowKernelWidth_followsTheLevelAndVendor_q8_0FewTokensOnlyWithEightLanes() throws {
        let w = try WeightMatrix(file, "q8_0.matrix")
        let x = values(3 * w.columns, seed: 5)
        var y = [Float](repeating: 0, count: 3 * w.rows)
        func fewTokensRan() -> Bool { qkv_gemm_rows_q8_0(x, w.columns, 3, w.base, w.columns, &y, w.rows, 0, w.rows) != 0 }
        let vendor = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).contains("AuthenticAMD") ? "AMD" : "other"
        if NativeKernels.level == .avx512, ProcessInfo.processInfo.environment["QKV_KERNELS"] == nil {
            XCTAssertEqual(NativeKernels.wideRows, vendor != "AMD", vendor)
        }
        XCTAssertEqual(fewTokensRan(), NativeKernels.enabled && !NativeKernels.wideRows)
        for level in NativeKernels.availableLevels {
            NativeKernels.atLevel(level) {
                XCTAssertEqual(qkv_kernels_wide_rows() != 0, level == .avx512, "\(level)")
                XCTAssertEqual(fewTokensRan(), level == .avx2, "\(level)")
            }
        }
        XCTAssertEqual(fewTokensRan(), NativeKernels.enabled && !NativeKernels.wideRows, "restored")
    }

    /// The special blocks (non-finite and extreme scales), one block per row, four tokens at once: the same
    /// bits as each token's one-token product.
    func testFewTokens_specialBlocks_matchTheOneTokenKernel() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in nativeBlockTypes {
            let view = try file.tensor(dtype.name)
            let size = dtype.blockSize, bytes = dtype.blockBytes, blocks = view.info.elementCount / size, m = 4
            let x = values(m * size, seed: 29)
            var few = [Float](repeating: .pi, count: m * blocks), alone = few
            try view.withUnsafeBytes { raw in
                let w = try XCTUnwrap(raw.baseAddress)
                let ran = few.withUnsafeMutableBufferPointer {
                    qkv_gemm_rows_blocks(CInt(dtype.rawValue), x, size, m, w, bytes, size, $0.baseAddress!, blocks, 0, blocks)
                }
                XCTAssertEqual(ran, 1, "\(dtype)")
                for t in 0..<m {
                    alone.withUnsafeMutableBufferPointer {
                        _ = qkv_dot_rows_blocks(CInt(dtype.rawValue), w, bytes, Array(x[(t * size)..<((t + 1) * size)]),
                                                $0.baseAddress! + t * blocks, 0, blocks, size)
                    }
                }
            }
            XCTAssertEqual(few.map(\.bitPattern), alone.map(\.bitPattern), "\(dtype)")
            XCTAssertTrue(few.contains { !$0.isFinite }, "\(dtype): the fixture's non-finite scales reach y")
        }
    }

    /// The C widening of a prompt's tiles (qkv_widen_blocks) gives gguf-py's dequantization bit for bit,
    /// special blocks included (NaN where gguf-py has NaN).
    func testWidenBlocks_everyNativeBlockType_isGGUFPysDequantization() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in nativeBlockTypes {
            for name in [dtype.name, dtype.name + ".matrix"] {
                let view = try file.tensor(name)
                let want: [Float] = name == dtype.name
                    ? try file.tensor(name + ".f32").withUnsafeBufferPointer(of: Float.self) { Array($0) }
                    : DTypeConversion.dequantize(view).withUnsafeBufferPointer(of: Float.self) { Array($0) }
                var got = [Float](repeating: .pi, count: view.info.elementCount)
                let ran = view.withUnsafeBytes { raw in
                    got.withUnsafeMutableBufferPointer {
                        qkv_widen_blocks(CInt(dtype.rawValue), raw.baseAddress!, $0.baseAddress!, view.info.elementCount / dtype.blockSize)
                    }
                }
                XCTAssertEqual(ran, 1, name)
                XCTAssertEqual(got.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern },
                               want.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern }, name)
            }
        }
    }

    func testDequantizeOnlyTypes_areWidenedOnceAtLoad() throws {
        for dtype in DType.allCases where dtype.isBlockQuantized && !dtype.isRunnable {
            let w = try WeightMatrix(file, dtype.name + ".matrix")
            XCTAssertEqual(w.dtype, .f32, "\(dtype)")
            let dense = DTypeConversion.dequantize(try file.tensor(dtype.name + ".matrix")).withUnsafeBufferPointer(of: UInt32.self) { Array($0) }
            w.withFloats { p in XCTAssertEqual((0..<dense.count).map { p[$0].bitPattern }, dense, "\(dtype)") }
        }
    }
    // MARK: 8-bit activations (`--activations q8`; Specs/quantization.md, "8-bit activations")

    /// x [k] on its 8-bit grid as Specs/quantization.md specifies it, in f32 as the C kernels compute it:
    /// per block of `n` values (32 for the 32-value types, 256 for the K types and iq4_xs), d = max|x| / 127,
    /// q = x / d rounded to nearest, ties to even, in -127...127 (0 where d is 0). Returns d · q in Double
    /// and each block's d.
    func eightBitGrid(_ x: [Float], block n: Int) -> (values: [Double], steps: [Double]) {
        var values = [Double](repeating: 0, count: x.count), steps: [Double] = []
        for b in 0..<(x.count / n) {
            let amax = x[(n * b)..<(n * b + n)].map(abs).max()!
            let d = amax / 127
            steps.append(Double(d))
            for j in (n * b)..<(n * b + n) {
                let q = d > 0 ? max(-127, min(127, (x[j] / d).rounded(.toNearestOrEven))) : 0
                values[j] = Double(d) * Double(q)
            }
        }
        return (values, steps)
    }

    /// The block of x that each type quantizes its activations in.
    func activationBlock(_ dtype: DType) -> Int { dtype.blockSize == 32 ? 32 : 256 }

    /// y [rows] from qkv_dot_rows_blocks_q8 on `rows` rows of k values at w, rowBytes apart.
    func quantizedProduct(_ dtype: DType, _ w: UnsafeRawPointer, rowBytes: Int, _ x: [Float], rows: Range<Int>, count: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: count)
        let ran = y.withUnsafeMutableBufferPointer {
            qkv_dot_rows_blocks_q8(CInt(dtype.rawValue), w, rowBytes, x, $0.baseAddress!, rows.lowerBound, rows.upperBound, x.count)
        }
        XCTAssertEqual(ran, 1, "\(dtype): the q8 kernel ran")
        return y
    }

    func testQuantizedActivations_everyRunnableType_isTheProductWithXOnItsEightBitGrid() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in runnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            XCTAssertGreaterThan(columns / dtype.blockSize, 1, "\(dtype): rows of several blocks")
            let ordinary = values(columns, seed: 31)
            // The first activation block all zeros (d = 0); then the whole x at extreme scales.
            let zeroFirst = (0..<columns).map { $0 < activationBlock(dtype) ? 0 : ordinary[$0] }
            for (x, what) in [(zeroFirst, "zero block"), (ordinary.map { $0 * 1e-20 }, "x·1e-20"), (ordinary.map { $0 * 1e20 }, "x·1e20")] {
                let grid = eightBitGrid(x, block: activationBlock(dtype)).values
                for share in [0..<rows, 4..<13, 12..<13] {
                    let y = quantizedProduct(dtype, w.base, rowBytes: w.rowBytes, x, rows: share, count: rows)
                    for r in share {
                        let terms = (0..<columns).map { Double(dense[r * columns + $0]) * grid[$0] }
                        check(y[r], terms.reduce(0, +), terms.map(abs).reduce(0, +), "\(dtype) \(what) row \(r) of \(share)")
                    }
                }
            }
        }
    }

    func testQuantizedActivations_everyRunnableType_isWithinHalfAStepOfTheF32Path() throws {
        for dtype in runnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            let x = values(columns, seed: 37)
            let steps = eightBitGrid(x, block: activationBlock(dtype)).steps
            let q8 = quantizedProduct(dtype, w.base, rowBytes: w.rowBytes, x, rows: 0..<rows, count: rows)
            // The exact f32-activation C kernels.
            var f32 = [Float](repeating: .nan, count: rows)
            f32.withUnsafeMutableBufferPointer { y in
                if dtype == .q8_0 {
                    qkv_dot_rows_q8_0(w.base, x, y.baseAddress!, 0, rows, columns)
                } else {
                    XCTAssertEqual(qkv_dot_rows_blocks(CInt(dtype.rawValue), w.base, w.rowBytes, x, y.baseAddress!, 0, rows, columns), 1)
                }
            }
            for r in 0..<rows {
                // |x - d·q| ≤ d / 2 for every value: the product moves by at most Σ |w| · d / 2.
                let n = activationBlock(dtype)
                let halfSteps = (0..<columns).map { abs(Double(dense[r * columns + $0])) * steps[$0 / n] / 2 }.reduce(0, +)
                let bound = (0..<columns).map { abs(Double(dense[r * columns + $0]) * Double(x[$0])) }.reduce(0, +)
                XCTAssertLessThanOrEqual(abs(Double(q8[r]) - Double(f32[r])), halfSteps + 2e-5 * bound,
                                         "\(dtype) row \(r): q8 \(q8[r]), f32 \(f32[r])")
            }
        }
    }

    /// A batched decode step's tokens (WeightMatrix.multiplyEachToken, qkv_gemm_rows_blocks_q8): each row of
    /// Y bit-equal to that token's own one-token product, for every share and however many tokens the
    /// scratch holds at once; a scratch too small for one token is refused, nothing written.
    func testQuantizedActivations_severalTokens_eachRowIsItsOwnOneTokenProduct() throws {
        for dtype in runnable {
            let plain = try WeightMatrix(file, dtype.name + ".matrix")
            let w = try WeightMatrix(file, dtype.name + ".matrix", activations: .q8)
            XCTAssertFalse(plain.integerActivations, "\(dtype): f32 activations unless asked")
            XCTAssertTrue(w.integerActivations, "\(dtype)")
            let (rows, columns, m) = (w.rows, w.columns, 5)
            let x = values(m * columns, seed: 41)
            let perToken = qkv_gemm_rows_blocks_q8_scratch(1, columns)
            // Room for every token at once, for two (three passes), and for one.
            for tokensAtOnce in [m, 2, 1] {
                let scratchFloats = (tokensAtOnce * perToken + 3) / 4
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
                defer { scratch.deallocate() }
                for share in [0..<rows, 3..<11] {
                    var y = [Float](repeating: .nan, count: m * rows)
                    let ran = y.withUnsafeMutableBufferPointer {
                        w.multiplyEachToken(x, m: m, into: $0.baseAddress!, ldy: rows, rows: share, scratch: scratch, scratchFloats: scratchFloats)
                    }
                    XCTAssertTrue(ran, "\(dtype)")
                    for t in 0..<m {
                        let alone = oneTokenProduct(w, x, token: t, rows: share)
                        XCTAssertEqual(share.map { y[t * rows + $0].bitPattern }, share.map { alone[$0].bitPattern },
                                       "\(dtype) token \(t) of \(m), \(tokensAtOnce) at once, rows \(share)")
                    }
                }
            }
            let small = UnsafeMutablePointer<Float>.allocate(capacity: 1)
            defer { small.deallocate() }
            var y = [Float](repeating: .nan, count: m * rows)
            let ran = y.withUnsafeMutableBufferPointer {
                w.multiplyEachToken(x, m: m, into: $0.baseAddress!, ldy: rows, rows: 0..<rows, scratch: small, scratchFloats: 1)
            }
            XCTAssertFalse(ran, "\(dtype): a scratch of one float holds no token's 8-bit blocks")
            XCTAssertTrue(y.allSatisfy(\.isNaN), "\(dtype): nothing written")
            XCTAssertFalse(plain.multiplyEachToken(x, m: m, into: &y, ldy: rows, rows: 0..<rows, scratch: small, scratchFloats: 1))
        }
    }

    /// The special blocks (zero, -0, negative, subnormal, largest, infinite and NaN f16 scales; all-zero and
    /// all-ones quant bytes), one block per row: a finite reference is matched on the 8-bit grid, a
    /// non-finite one (a non-finite scale) gives a non-finite y.
    func testQuantizedActivations_specialBlocks_oneBlockPerRow() throws {
        for dtype in runnable {
            let view = try file.tensor(dtype.name)
            let reference = try file.tensor(dtype.name + ".f32").withUnsafeBufferPointer(of: Float.self) { Array($0) }
            let size = dtype.blockSize, bytes = dtype.blockBytes, blocks = reference.count / size
            let x = values(size, seed: 41)
            let grid = eightBitGrid(x, block: activationBlock(dtype)).values
            let y = try view.withUnsafeBytes { raw in
                quantizedProduct(dtype, try XCTUnwrap(raw.baseAddress), rowBytes: bytes, x, rows: 0..<blocks, count: blocks)
            }
            var nonFinite = 0
            for b in 0..<blocks {
                let terms = (0..<size).map { Double(reference[b * size + $0]) * grid[$0] }
                let want = terms.reduce(0, +)
                if want.isFinite {
                    check(y[b], want, terms.map(abs).reduce(0, +), "\(dtype) q8 block \(b)")
                } else {
                    XCTAssertFalse(y[b].isFinite, "\(dtype) q8 block \(b): \(y[b]), want \(want)")
                    nonFinite += 1
                }
            }
            XCTAssertGreaterThan(nonFinite, 0, "\(dtype): the fixture plants infinite and NaN scales")
        }
    }

    /// Every kernel level this CPU has (AVX2; AVX-512, whose 8-bit kernels use VNNI's dot products where
    /// the CPU has them) computes the same y bit for bit: the levels differ only in how they add exact
    /// integer products. Ordinary rows at extreme scales, and the special blocks one per row.
    func testQuantizedActivations_everyKernelLevel_isBitIdentical() throws {
        let levels = NativeKernels.availableLevels
        XCTAssertFalse(levels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in runnable {
            let (w, _) = try matrix(dtype)
            let ordinary = values(w.columns, seed: 43)
            var results: [NativeKernels.Level: [[UInt32]]] = [:]
            let view = try file.tensor(dtype.name)
            let blocks = view.info.elementCount / dtype.blockSize
            let x = values(dtype.blockSize, seed: 47)
            try view.withUnsafeBytes { raw in
                let special = try XCTUnwrap(raw.baseAddress)
                for level in levels {
                    NativeKernels.atLevel(level) {
                        var ys = [ordinary, ordinary.map { $0 * 1e-20 }, ordinary.map { $0 * 1e20 }].map {
                            quantizedProduct(dtype, w.base, rowBytes: w.rowBytes, $0, rows: 0..<w.rows, count: w.rows).map(\.bitPattern)
                        }
                        ys.append(quantizedProduct(dtype, special, rowBytes: dtype.blockBytes, x, rows: 0..<blocks, count: blocks).map(\.bitPattern))
                        results[level] = ys
                    }
                }
            }
            for level in levels.dropFirst() {
                XCTAssertEqual(results[level], results[levels[0]], "\(dtype): \(level) against \(levels[0])")
            }
        }
    }

    /// The types whose prompts run on panels of eight weight rows under 8-bit activations (qkv_gemm_panels_q8).
    var panelTypes: [DType] { runnable.filter(\.isBlockQuantized) }

    /// Y [m, rows] from qkv_gemm_panels_q8 for `share` (NaN elsewhere), or nil when it refused (then nothing written).
    func panelProduct(_ dtype: DType, _ w: PanelMatrix, _ x: [Float], m: Int, share: Range<Int>, scratchBytes: Int) -> [Float]? {
        var y = [Float](repeating: .nan, count: m * w.rows)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (scratchBytes + 3) / 4)
        defer { scratch.deallocate() }
        let ran = y.withUnsafeMutableBufferPointer {
            qkv_gemm_panels_q8(CInt(dtype.rawValue), x, w.columns, m, w.base, w.rowBytes, w.columns, $0.baseAddress!, w.rows,
                               share.lowerBound, share.upperBound, scratch, scratchBytes)
        }
        guard ran != 0 else {
            XCTAssertTrue(y.allSatisfy(\.isNaN), "\(dtype): refused, and nothing written")
            return nil
        }
        return y
    }

    /// A block-quantized W [rows, columns] in memory: the fixture's rows repeated, for panels of sixteen rows.
    struct PanelMatrix {
        let base: UnsafeRawPointer, rowBytes: Int, rows: Int, columns: Int
    }

    /// `body` with the "<type>.matrix" fixture's rows `copies` times over, and its dequantization likewise.
    func repeatedMatrix<R>(_ dtype: DType, copies: Int, _ body: (PanelMatrix, [Float]) throws -> R) throws -> R {
        let (w, dense) = try matrix(dtype)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: copies * w.rows * w.rowBytes, alignment: 64)
        defer { bytes.deallocate() }
        for c in 0..<copies { (bytes + c * w.rows * w.rowBytes).copyMemory(from: w.base, byteCount: w.rows * w.rowBytes) }
        return try body(PanelMatrix(base: bytes, rowBytes: w.rowBytes, rows: copies * w.rows, columns: w.columns),
                        Array(repeating: dense, count: copies).flatMap { $0 })
    }

    /// A prompt's tokens through panels (VNNI only; at the AVX-512 level of a CPU that has it): each token's
    /// row of Y is its product with x on the 8-bit grid (the one-token kernel's integers, another float
    /// rounding), for every share (panels of eight rows and a tail), token count (groups of four and a
    /// tail) and scratch size (every token at once, one at a time); too small a scratch, the AVX2 level
    /// and a CPU without VNNI compute nothing.
    func testPanels_everyPanelType_isTheProductWithXOnItsEightBitGrid() throws {
        let vnni = qkv_kernels_vnni() != 0
        XCTAssertEqual(Set(panelTypes), [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs])
        for dtype in panelTypes { try repeatedMatrix(dtype, copies: 3) { w, dense in
            let (rows, columns) = (w.rows, w.columns)
            XCTAssertGreaterThan(rows, 32, "\(dtype): rows for two panels and a tail")
            for m in [2, 5, 13] {
                let x = values(m * columns, seed: 59 + UInt64(m))
                let everyToken = qkv_gemm_panels_q8_scratch(CInt(dtype.rawValue), m, columns)
                let oneToken = qkv_gemm_panels_q8_scratch(CInt(dtype.rawValue), 1, columns)
                NativeKernels.atLevel(.avx2) {
                    XCTAssertNil(panelProduct(dtype, w, x, m: m, share: 0..<rows, scratchBytes: everyToken), "\(dtype): no panels at the AVX2 level")
                }
                guard NativeKernels.availableLevels.contains(.avx512) else { continue }
                NativeKernels.atLevel(.avx512) {
                    XCTAssertNil(panelProduct(dtype, w, x, m: m, share: 0..<rows, scratchBytes: oneToken - 1), "\(dtype): scratch for no token")
                    for scratchBytes in [everyToken, oneToken] {
                        for share in [0..<rows, 3..<36, 0..<16, 17..<18] {
                            guard let y = panelProduct(dtype, w, x, m: m, share: share, scratchBytes: scratchBytes) else {
                                XCTAssertFalse(vnni, "\(dtype): refused on a CPU with VNNI")
                                continue
                            }
                            XCTAssertTrue(vnni, "\(dtype): ran without VNNI")
                            for t in 0..<m {
                                let xt = Array(x[(t * columns)..<((t + 1) * columns)])
                                let grid = eightBitGrid(xt, block: activationBlock(dtype)).values
                                for r in 0..<rows {
                                    guard share.contains(r) else {
                                        XCTAssertTrue(y[t * rows + r].isNaN, "\(dtype): row \(r) outside \(share) written")
                                        continue
                                    }
                                    let terms = (0..<columns).map { Double(dense[r * columns + $0]) * grid[$0] }
                                    check(y[t * rows + r], terms.reduce(0, +), terms.map(abs).reduce(0, +),
                                          "\(dtype) token \(t) of \(m) row \(r) of \(share), scratch \(scratchBytes)")
                                }
                            }
                        }
                    }
                }
            }
        } }
    }

    /// The special blocks one per row through panels: finite references matched on the 8-bit grid, a
    /// non-finite scale giving a non-finite y (VNNI only).
    func testPanels_specialBlocks_oneBlockPerRow() throws {
        guard qkv_kernels_vnni() != 0 else {
            var y: [Float] = [0, 0]
            XCTAssertEqual(qkv_gemm_panels_q8(CInt(DType.q4_k.rawValue), [Float](repeating: 1, count: 512), 256, 2,
                                              [UInt8](repeating: 0, count: 144), 144, 256, &y, 1, 0, 1, nil, 1 << 20), 0, "no VNNI: refused")
            return
        }
        for dtype in panelTypes {
            let view = try file.tensor(dtype.name)
            let reference = try file.tensor(dtype.name + ".f32").withUnsafeBufferPointer(of: Float.self) { Array($0) }
            let size = dtype.blockSize, bytes = dtype.blockBytes, blocks = reference.count / size, m = 3
            let x = values(m * size, seed: 61)
            let scratchBytes = qkv_gemm_panels_q8_scratch(CInt(dtype.rawValue), m, size)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (scratchBytes + 3) / 4)
            defer { scratch.deallocate() }
            var y = [Float](repeating: .nan, count: m * blocks)
            let ran = try view.withUnsafeBytes { raw in
                var ran: CInt = 0
                let base = try XCTUnwrap(raw.baseAddress)
                NativeKernels.atLevel(.avx512) {
                    ran = y.withUnsafeMutableBufferPointer {
                        qkv_gemm_panels_q8(CInt(dtype.rawValue), x, size, m, base, bytes, size, $0.baseAddress!, blocks, 0, blocks, scratch, scratchBytes)
                    }
                }
                return ran
            }
            XCTAssertEqual(ran, 1, "\(dtype)")
            var nonFinite = 0
            for t in 0..<m {
                let grid = eightBitGrid(Array(x[(t * size)..<((t + 1) * size)]), block: activationBlock(dtype)).values
                for b in 0..<blocks {
                    let terms = (0..<size).map { Double(reference[b * size + $0]) * grid[$0] }
                    let want = terms.reduce(0, +)
                    if want.isFinite {
                        check(y[t * blocks + b], want, terms.map(abs).reduce(0, +), "\(dtype) token \(t) block \(b)")
                    } else {
                        XCTAssertFalse(y[t * blocks + b].isFinite, "\(dtype) token \(t) block \(b): \(y[t * blocks + b]), want \(want)")
                        nonFinite += 1
                    }
                }
            }
            XCTAssertGreaterThan(nonFinite, 0, "\(dtype): the fixture plants infinite and NaN scales")
        }
    }

    func testPanels_refuseWhatTheyDoNotRun() throws {
        let (matrix, _) = try matrix(.q4_k)
        let w = PanelMatrix(base: matrix.base, rowBytes: matrix.rowBytes, rows: matrix.rows, columns: matrix.columns)
        let x = values(3 * w.columns, seed: 67)
        let scratchBytes = qkv_gemm_panels_q8_scratch(CInt(DType.q4_k.rawValue), 3, w.columns)
        NativeKernels.atLevel(NativeKernels.availableLevels.last ?? .avx2) {
            for (dtype, what) in [(DType.f16, "f16"), (.bf16, "bf16"), (.iq2_xxs, "dequantize-only")] {
                XCTAssertNil(panelProduct(dtype, w, x, m: 3, share: 0..<w.rows, scratchBytes: scratchBytes), what)
            }
            var y = [Float](repeating: .nan, count: 3 * w.rows)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchBytes / 4 + 1)
            defer { scratch.deallocate() }
            XCTAssertEqual(qkv_gemm_panels_q8(CInt(DType.q4_k.rawValue), x, w.columns, 3, w.base, w.rowBytes, 128, &y, w.rows, 0, w.rows,
                                              scratch, scratchBytes), 0, "k not whole super-blocks")
            XCTAssertEqual(qkv_gemm_panels_q8(CInt(DType.q4_k.rawValue), x, w.columns, 0, w.base, w.rowBytes, w.columns, &y, w.rows, 0, w.rows,
                                              scratch, scratchBytes), 0, "no tokens")
            XCTAssertTrue(y.allSatisfy(\.isNaN), "nothing computed")
        }
    }

    func testQuantizedActivations_refusesWhatItDoesNotRun() throws {
        let (w, _) = try matrix(.q4_k)
        var y = [Float](repeating: .nan, count: w.rows)
        let x = values(w.columns, seed: 43)
        XCTAssertEqual(qkv_dot_rows_blocks_q8(CInt(DType.f16.rawValue), w.base, w.rowBytes, x, &y, 0, w.rows, w.columns), 0, "f16")
        XCTAssertEqual(qkv_dot_rows_blocks_q8(CInt(DType.iq2_xxs.rawValue), w.base, w.rowBytes, x, &y, 0, w.rows, w.columns), 0, "dequantize-only type")
        XCTAssertEqual(qkv_dot_rows_blocks_q8(CInt(DType.q4_k.rawValue), w.base, w.rowBytes, x, &y, 0, w.rows, 128), 0, "k not whole super-blocks")
        XCTAssertTrue(y.allSatisfy(\.isNaN), "nothing computed")
    }
}
