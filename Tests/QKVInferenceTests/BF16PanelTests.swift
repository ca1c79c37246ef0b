import CQKVKernels
import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// A prompt through bf16 weights with bf16 activations (`ActivationPrecision.bf16`, qkv_gemm_panels_bf16,
/// AVX512_BF16): each token's row of Y is W times x rounded to bf16 (to nearest even), summed in Double
/// here; the tolerance is f32 summation order, 1e-5 of Σ |w·x|.
final class BF16PanelTests: XCTestCase {
    /// A bf16 W [rows, k] (its bytes, and its values as Double) from seeded values in [-1, 1].
    func matrix(rows: Int, k: Int, seed: UInt64) -> (bytes: [UInt16], values: [Double]) {
        let bits = values(rows * k, seed: seed).map { UInt16($0.bitPattern >> 16) }
        return (bits, bits.map { Double(Float(bitPattern: UInt32($0) << 16)) })
    }

    func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(Int(state % 2001) - 1000) / 1000
        }
    }

    /// x rounded to bf16, to nearest even (finite x).
    func bf16(_ x: Float) -> Double {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        return Double(Float(bitPattern: rounded << 16))
    }

    /// Y [m, rows] from qkv_gemm_panels_bf16 for `share` (NaN elsewhere), or nil when it refused (nothing written).
    func product(_ w: [UInt16], rows: Int, k: Int, _ x: [Float], m: Int, share: Range<Int>, scratchBytes: Int) -> [Float]? {
        var y = [Float](repeating: .nan, count: m * rows)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (scratchBytes + 3) / 4 + 1)
        defer { scratch.deallocate() }
        let ran = w.withUnsafeBytes { wb in
            y.withUnsafeMutableBufferPointer {
                qkv_gemm_panels_bf16(x, k, m, wb.baseAddress!, 0, 2 * k, k, $0.baseAddress!, rows, share.lowerBound, share.upperBound,
                                     scratch, scratchBytes)
            }
        }
        guard ran != 0 else {
            XCTAssertTrue(y.allSatisfy(\.isNaN), "refused, and nothing written")
            return nil
        }
        return y
    }

    /// Every share (two full panels of sixteen rows and a tail, one panel, one row), token count (groups
    /// of four and a tail) and scratch size (every token at once, one at a time); too small a scratch, the
    /// AVX2 level and a CPU without AVX512_BF16 compute nothing.
    func testPanels_areWTimesXRoundedToBF16() throws {
        let (rows, k) = (40, 96)
        let (w, dense) = matrix(rows: rows, k: k, seed: 71)
        let hasBF16 = qkv_kernels_bf16() != 0
        for m in [2, 5, 13] {
            let x = values(m * k, seed: 73 + UInt64(m))
            let everyToken = qkv_gemm_panels_bf16_scratch(m, k), oneToken = qkv_gemm_panels_bf16_scratch(1, k)
            NativeKernels.atLevel(.avx2) {
                XCTAssertNil(product(w, rows: rows, k: k, x, m: m, share: 0..<rows, scratchBytes: everyToken), "no panels at the AVX2 level")
            }
            guard NativeKernels.availableLevels.contains(.avx512) else { continue }
            NativeKernels.atLevel(.avx512) {
                XCTAssertNil(product(w, rows: rows, k: k, x, m: m, share: 0..<rows, scratchBytes: oneToken - 1), "scratch for no token")
                for scratchBytes in [everyToken, oneToken] {
                    for share in [0..<rows, 3..<36, 0..<16, 17..<18] {
                        guard let y = product(w, rows: rows, k: k, x, m: m, share: share, scratchBytes: scratchBytes) else {
                            XCTAssertFalse(hasBF16, "refused on a CPU with AVX512_BF16")
                            continue
                        }
                        XCTAssertTrue(hasBF16, "ran without AVX512_BF16")
                        for t in 0..<m {
                            for r in 0..<rows {
                                guard share.contains(r) else {
                                    XCTAssertTrue(y[t * rows + r].isNaN, "row \(r) outside \(share) written")
                                    continue
                                }
                                let terms = (0..<k).map { dense[r * k + $0] * bf16(x[t * k + $0]) }
                                let want = terms.reduce(0, +), bound = terms.map(abs).reduce(0, +)
                                XCTAssertLessThanOrEqual(abs(Double(y[t * rows + r]) - want), 1e-5 * bound + 1e-30,
                                                         "token \(t) of \(m), row \(r) of \(share), scratch \(scratchBytes)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// W's bytes as f32 or bf16 from seeded values, and each element's value as the panels take it (f32
    /// rounded to bf16).
    func weights(_ count: Int, f32: Bool, seed: UInt64) -> (bytes: [UInt8], rounded: [Double]) {
        let v = values(count, seed: seed).map { $0 * 1.37 }   // not bf16 already
        if f32 { return (v.withUnsafeBytes { Array($0) }, v.map(bf16)) }
        let bits = v.map { UInt16($0.bitPattern >> 16) }
        return (bits.withUnsafeBytes { Array($0) }, bits.map { Double(Float(bitPattern: UInt32($0) << 16)) })
    }

    /// f32 weights (rounded to bf16 as the panels are packed) and weights stored by input (the attention
    /// output projection [H·d, D], `qkv_gemm_panels_bf16_columns`), bf16 and f32: each output is the
    /// rounded W times x rounded to bf16, for shares of whole panels, a tail and one output.
    func testPanels_ofF32WeightsAndOfColumns_areRoundedWTimesRoundedX() throws {
        let (outputs, k, m) = (37, 64, 6)
        let x = values(m * k, seed: 89)
        // At the AVX2 level neither layout runs (the caller then takes the exact path).
        let (f32Bytes, _) = weights(outputs * k, f32: true, seed: 97)
        NativeKernels.atLevel(.avx2) {
            var y = [Float](repeating: .nan, count: m * outputs)
            let scratchBytes = qkv_gemm_panels_bf16_scratch(m, k)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchBytes / 4 + 1)
            defer { scratch.deallocate() }
            let ran = f32Bytes.withUnsafeBytes { wb in
                y.withUnsafeMutableBufferPointer {
                    qkv_gemm_panels_bf16(x, k, m, wb.baseAddress!, 1, 4 * k, k, $0.baseAddress!, outputs, 0, outputs, scratch, scratchBytes)
                        + qkv_gemm_panels_bf16_columns(x, k, m, wb.baseAddress!, 1, 4 * outputs, k, $0.baseAddress!, outputs, 0, outputs,
                                                       scratch, scratchBytes)
                }
            }
            XCTAssertEqual(ran, 0, "no panels at the AVX2 level")
            XCTAssertTrue(y.allSatisfy(\.isNaN), "nothing written")
        }
        guard NativeKernels.availableLevels.contains(.avx512) else { return }
        for (f32, byColumns) in [(true, false), (false, true), (true, true)] {
            let (bytes, w) = weights(outputs * k, f32: f32, seed: f32 ? 97 : 101)
            let element = f32 ? 4 : 2
            let rowBytes = byColumns ? outputs * element : k * element
            for share in [0..<outputs, 5..<37, 16..<32, 20..<21] {
                for scratchBytes in [qkv_gemm_panels_bf16_scratch(m, k), qkv_gemm_panels_bf16_scratch(1, k)] {
                    var y = [Float](repeating: .nan, count: m * outputs)
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchBytes / 4 + 1)
                    defer { scratch.deallocate() }
                    var ran: CInt = 0
                    NativeKernels.atLevel(.avx512) {
                        ran = bytes.withUnsafeBytes { wb in
                            y.withUnsafeMutableBufferPointer { out in
                                byColumns
                                    ? qkv_gemm_panels_bf16_columns(x, k, m, wb.baseAddress!, f32 ? 1 : 0, rowBytes, k, out.baseAddress!, outputs,
                                                                   share.lowerBound, share.upperBound, scratch, scratchBytes)
                                    : qkv_gemm_panels_bf16(x, k, m, wb.baseAddress!, f32 ? 1 : 0, rowBytes, k, out.baseAddress!, outputs,
                                                           share.lowerBound, share.upperBound, scratch, scratchBytes)
                            }
                        }
                    }
                    guard ran != 0 else {
                        XCTAssertEqual(qkv_kernels_bf16(), 0, "refused on a CPU with AVX512_BF16")
                        XCTAssertTrue(y.allSatisfy(\.isNaN), "refused, and nothing written")
                        continue
                    }
                    for t in 0..<m {
                        for o in 0..<outputs {
                            guard share.contains(o) else {
                                XCTAssertTrue(y[t * outputs + o].isNaN, "output \(o) outside \(share) written")
                                continue
                            }
                            let terms = (0..<k).map { i in (byColumns ? w[i * outputs + o] : w[o * k + i]) * bf16(x[t * k + i]) }
                            let want = terms.reduce(0, +), bound = terms.map(abs).reduce(0, +)
                            XCTAssertLessThanOrEqual(abs(Double(y[t * outputs + o]) - want), 1e-5 * bound + 1e-30,
                                                     "f32 \(f32), columns \(byColumns): token \(t), output \(o) of \(share)")
                        }
                    }
                }
            }
        }
    }

    func testPanels_refuseWhatTheyDoNotRun() throws {
        let (rows, k) = (16, 64)
        let (w, _) = matrix(rows: rows, k: k, seed: 79)
        let x = values(3 * 48, seed: 83)
        NativeKernels.atLevel(NativeKernels.availableLevels.last ?? .avx2) {
            XCTAssertNil(product(w, rows: rows, k: 48, x, m: 3, share: 0..<rows, scratchBytes: 1 << 20), "k not a multiple of 32")
            XCTAssertNil(product(w, rows: rows, k: k, x, m: 0, share: 0..<rows, scratchBytes: 1 << 20), "no tokens")
        }
    }

    /// A bf16 model's prompt under `.bf16`: its logits stay close to the exact path's (x rounded to bf16
    /// moves them by about bf16's precision), and differ from them only where the CPU runs the panels.
    func testBF16Activations_promptLogitsCloseToTheExactPath() throws {
        let dir = NSTemporaryDirectory() + "qkv-bf16-activations-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = "\(dir)/llama-tiny-bf16.qkv"
        try Converter.convert(input: TestFiles.root.appendingPathComponent("Fixtures/hf/llama-tiny").path, output: output, format: .qkv,
                              options: WriteOptions(dtype: .bf16))
        let file = try ModelFile(try openWeightFile(path: output))
        let exact = try DecoderModel(file), rounded = try DecoderModel(file, activations: .bf16)
        let V = exact.config.vocabSize
        let tokens = (0..<40).map { ($0 * 37 + 11) % V }
        let want = try exact.forward(tokens, session: exact.makeSession(), logits: .all)
        let got = try rounded.forward(tokens, session: rounded.makeSession(), logits: .all)
        var worst = 0.0
        for row in stride(from: 0, to: want.count, by: V) {
            let scale = want[row..<row + V].map { abs(Double($0)) }.max()!
            let diff = (row..<row + V).map { abs(Double(got[$0]) - Double(want[$0])) }.max()!
            worst = max(worst, diff / scale)
        }
        print("llama-tiny bf16: max relative logit change with bf16 activations \(worst)")
        XCTAssertLessThanOrEqual(worst, 0.01, "about three times the 3.4e-3 measured")
        if NativeKernels.bf16Prompts {
            XCTAssertGreaterThan(worst, 0, "bf16 activations ran")
        } else {
            XCTAssertEqual(worst, 0, "without AVX512_BF16 the prompt keeps f32 activations")
        }
        // Decode steps keep f32 activations: one token at a time equals the exact model's steps.
        let (a, b) = (exact.makeSession(), rounded.makeSession())
        for token in tokens.prefix(3) {
            XCTAssertEqual(try exact.forward([token], session: a), try rounded.forward([token], session: b))
        }
    }
}
