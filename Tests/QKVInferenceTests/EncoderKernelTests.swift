import COpenBLAS
import Foundation
import XCTest
@testable import QKVInference
import QKVFormat

/// The encoder's own kernels against plain scalar formulas, and the thread-sharing arithmetic.
final class EncoderKernelTests: XCTestCase {
    func testExp8_isWithin2ulpOfGlibcExpf() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 88 {
            let ours = exp8(SIMD8(repeating: x))[0], reference = expf(x)
            worst = max(worst, abs(ours - reference) / reference.ulp)
            x += 1.0 / 512
        }
        XCTAssertLessThanOrEqual(worst, 2)
    }

    func testSoftmaxRows_matchesTheScalarFormula() {
        let n = 21   // two SIMD blocks and a scalar tail
        var row = (0..<n).map { Float($0 % 7) * 1.3 - 4 }
        let m = row.max()!, e = row.map { expf($0 - m) }, sum = e.reduce(0, +)
        row.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, rows: 1, n: n) }
        for (a, b) in zip(row, e.map { $0 / sum }) { XCTAssertEqual(a, b, accuracy: 1e-7) }
    }

    /// One head against softmax(Q Kᵀ / √d) V computed in Double, for lengths around the SIMD width.
    func testAttentionHead_matchesTheDefinition() {
        // Heads of 12 columns (a SIMD block and a tail) and 61 (every block size), inside wider rows.
        for (d, ld) in [(12, 40), (61, 64)] { for L in [1, 7, 8, 9, 17, 34] {
            var random = SystemRandomNumberGenerator()
            func matrix() -> [Float] { (0..<L * ld).map { _ in Float.random(in: -2...2, using: &random) } }
            let q = matrix(), k = matrix(), v = matrix()
            var z = [Float](repeating: 0, count: L * ld)
            var keys = [Float](repeating: .nan, count: d * ((L + 7) & ~7)), scores = [Float](repeating: .nan, count: (L + 7) & ~7)
            let scale = 1 / Float(d).squareRoot()
            z.withUnsafeMutableBufferPointer { z in
                attentionHead(q: q, k: k, v: v, z: z.baseAddress!, tokens: L, headDim: d, ld: ld, scale: scale,
                              keys: &keys, scores: &scores)
            }
            for i in 0..<L {
                let s = (0..<L).map { j in (0..<d).reduce(0.0) { $0 + Double(q[i * ld + $1]) * Double(k[j * ld + $1]) } * Double(scale) }
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                for c in 0..<d {
                    let expected = (0..<L).reduce(0.0) { $0 + e[$1] / sum * Double(v[$1 * ld + c]) }
                    XCTAssertEqual(Double(z[i * ld + c]), expected, accuracy: 1e-5, "d \(d) L \(L) row \(i) column \(c)")
                }
            }
        }}
    }

    func testAddBiasResidualLayerNorm_equalsTheUnfusedSteps() {
        let rows = 3, n = 20
        var x = (0..<rows * n).map { Float($0 % 11) - 5 }, y = (0..<rows * n).map { Float($0 % 5) * 0.5 }
        let bias = (0..<n).map { Float($0) * 0.1 }, weight = (0..<n).map { 1 + Float($0) * 0.01 }, normBias = (0..<n).map { Float($0) * -0.02 }
        var expected = x
        for r in 0..<rows { for i in 0..<n { expected[r * n + i] += y[r * n + i] + bias[i] } }
        for r in 0..<rows {
            let row = expected[r * n..<(r + 1) * n]
            let mean = row.reduce(0, +) / Float(n), variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(n)
            for i in 0..<n { expected[r * n + i] = (expected[r * n + i] - mean) / (variance + 1e-12).squareRoot() * weight[i] + normBias[i] }
        }
        x.withUnsafeMutableBufferPointer { x in
            addBiasResidualLayerNorm(x.baseAddress!, &y, bias: bias, weight: weight, normBias: normBias, rows: rows, n: n, epsilon: 1e-12)
        }
        for (a, b) in zip(x, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testAddBiasGELU_onAColumnBlock_leavesTheOtherColumns() {
        let ld = 24, rows = 2, columns = 8..<21
        var x = (0..<rows * ld).map { Float($0) / 8 - 3 }
        let original = x, bias = (0..<ld).map { Float($0) * 0.05 }
        x.withUnsafeMutableBufferPointer { addBiasGELU($0.baseAddress!, ld: ld, bias, rows: rows, columns: columns) }
        for r in 0..<rows {
            for c in 0..<ld {
                let v = original[r * ld + c] + bias[c]
                let expected = columns.contains(c) ? 0.5 * v * (1 + erff(v / Float(2).squareRoot())) : original[r * ld + c]
                XCTAssertEqual(x[r * ld + c], expected, accuracy: 1e-6)
            }
        }
    }

    func testShare_tilesTheRangeInOrder() {
        for count in [0, 1, 5, 34, 384, 1536] {
            for parts in 1...5 {
                for align in [1, 16] {
                    let pieces = (0..<parts).map { share(count, part: $0, of: parts, align: align) }
                    XCTAssertEqual(pieces.first?.lowerBound, 0)
                    XCTAssertEqual(pieces.last?.upperBound, count)
                    for (a, b) in zip(pieces, pieces.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                    for piece in pieces.dropLast() where align > 1 { XCTAssertEqual(piece.lowerBound % align, 0) }
                }
            }
        }
    }

    func testCostBalancedGroups_coverEverySequenceOnce() {
        let lengths = [30, 5, 7, 60, 12, 12, 40, 3]
        let offsets = lengths.reduce(into: [0]) { $0.append($0.last! + $1) }
        for parts in 1...4 {
            let groups = costBalancedGroups(offsets, parts: parts)
            XCTAssertEqual(groups.count, parts)
            XCTAssertEqual(groups.flatMap { Array($0) }, Array(lengths.indices))
        }
        let halves = costBalancedGroups(offsets, parts: 2)
        XCTAssertEqual(halves, [0..<4, 4..<8])   // costs 119.9 and 74.4: the start nearest half of 194.3
    }
}

/// sentence-transformers' Dense module: y = act(W x + b) against the formulas, for each activation.
final class DenseModuleTests: XCTestCase {
    func testDenseModule_matchesTheFormulaForEachActivation() {
        let w: [Float] = [0.5, -1, 2, 0.25, 0, -0.75]   // [3, 2]
        let x: [Float] = [1.5, -0.5], b: [Float] = [0.1, -0.2, 0.3]
        let affine = (0..<3).map { o in w[o * 2] * x[0] + w[o * 2 + 1] * x[1] + b[o] }
        let expected: [(ModelConfig.Dense.Activation, (Float) -> Float)] = [
            (.identity, { $0 }), (.tanh, { tanhf($0) }), (.relu, { max($0, 0) }), (.geluErf, { 0.5 * $0 * (1 + erff($0 * 0.70710678)) }),
            (.sigmoid, { 1 / (1 + expf(-$0)) }), (.silu, { $0 / (1 + expf(-$0)) }),
        ]
        for (activation, f) in expected {
            var y = [Float](repeating: .nan, count: 3)
            denseModule(x, w, b, inputs: 2, outputs: 3, activation: activation, into: &y)
            for o in 0..<3 { XCTAssertEqual(y[o], f(affine[o]), accuracy: 1e-6, "\(activation) \(o)") }
        }
        var y = [Float](repeating: .nan, count: 3)
        denseModule(x, w, nil, inputs: 2, outputs: 3, activation: .identity, into: &y)
        for o in 0..<3 { XCTAssertEqual(y[o], w[o * 2] * x[0] + w[o * 2 + 1] * x[1], accuracy: 1e-6) }
    }
}
