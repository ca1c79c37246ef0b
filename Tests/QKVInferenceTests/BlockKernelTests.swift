import CQKVKernels
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Products from the mapping for every runnable block type (the "<type>.matrix" tensors of
/// Fixtures/quant/blocks.gguf, tools/fixtures_quant.py) against the same product on the dequantized f32
/// matrix (BlockQuantizationTests checks that dequantization bit for bit against gguf-py), summed in
/// Double: one token by rows and by columns, every share boundary and tail, and many tokens through
/// the widened tiles and sgemm. The tolerance is f32 summation order: 1e-5 of Σ |w·x|.
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

    func testNativeRowKernels_q4_0_q5_0_q4_k_q5_k_q6_k_matchTheReferenceAndSwift_everyRowShare() throws {
        XCTAssertFalse(NativeKernels.availableLevels.isEmpty, "the C kernels need AVX2 on this machine")
        for dtype in DType.allCases where dtype.isRunnable {
            let (w, dense) = try matrix(dtype)
            let (rows, columns) = (w.rows, w.columns)
            let x = values(columns, seed: 17)
            var native = [Float](repeating: .nan, count: rows), swift = native
            for share in [0..<rows, 0..<4, 4..<13, 12..<13, 3..<3] {
                let ran = native.withUnsafeMutableBufferPointer {
                    qkv_dot_rows_blocks(CInt(dtype.rawValue), w.base, w.rowBytes, x, $0.baseAddress!, share.lowerBound, share.upperBound, columns)
                }
                XCTAssertEqual(ran != 0, [.q4_0, .q5_0, .q4_k, .q5_k, .q6_k].contains(dtype), "\(dtype)")
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

    func testDequantizeOnlyTypes_areWidenedOnceAtLoad() throws {
        for dtype in DType.allCases where dtype.isBlockQuantized && !dtype.isRunnable {
            let w = try WeightMatrix(file, dtype.name + ".matrix")
            XCTAssertEqual(w.dtype, .f32, "\(dtype)")
            let dense = DTypeConversion.dequantize(try file.tensor(dtype.name + ".matrix")).withUnsafeBufferPointer(of: UInt32.self) { Array($0) }
            w.withFloats { p in XCTAssertEqual((0..<dense.count).map { p[$0].bitPattern }, dense, "\(dtype)") }
        }
    }
}
