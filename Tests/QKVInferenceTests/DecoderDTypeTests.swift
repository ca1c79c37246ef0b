import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The decoders computing from f16, bf16 and q8_0 weights in the mapping: every position's logits close
/// to the f32 model's (q8_0 looser), and the one-token path (matrix-vector kernels) equal to the
/// many-token path (widened tiles and sgemm) within f32 rounding.
final class DecoderDTypeTests: XCTestCase {
    static let root = TestFiles.root

    func model(_ fixture: String, _ dtype: DType, in dir: String) throws -> DecoderModel {
        let output = "\(dir)/\(fixture.split(separator: "/").last!)-\(dtype).qkv"
        try Converter.convert(input: Self.root.appendingPathComponent(fixture).path, output: output, format: .qkv, options: WriteOptions(dtype: dtype))
        return try DecoderModel(try ModelFile(try openWeightFile(path: output)))
    }

    /// max over positions of max |a - b| / max |b| in the row.
    func relativeError(_ a: [Float], _ b: [Float], V: Int) -> Double {
        var worst = 0.0
        for row in stride(from: 0, to: b.count, by: V) {
            var scale: Float = 0, diff: Float = 0
            for j in row..<row + V { scale = max(scale, abs(b[j])); diff = max(diff, abs(a[j] - b[j])) }
            worst = max(worst, Double(diff / max(scale, 1e-30)))
        }
        return worst
    }

    func testReducedPrecisionLogits_closeToF32() throws {
        let dir = NSTemporaryDirectory() + "qkv-dtypes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // About twice the worst measured (printed below; 2026-11-27: f16 4.4e-3, bf16 4.2e-2, q8_0 9.7e-2 on
        // llama-saved, random weights at d = 64, where rounding errors do not average out).
        let bounds: [DType: Double] = [.f16: 1e-2, .bf16: 0.1, .q8_0: 0.2]
        for fixture in ["Fixtures/reference/decoders/gpt2-saved", "Fixtures/reference/decoders/llama-saved", "Fixtures/hf/llama-tiny"] {
            let reference = try model(fixture, .f32, in: dir)
            let V = reference.config.vocabSize
            let tokens = (0..<40).map { ($0 * 37 + 11) % V }
            let want = try reference.forward(tokens, session: reference.makeSession(), logits: .all)
            for dtype in [DType.f16, .bf16, .q8_0] {
                let m = try model(fixture, dtype, in: dir)
                let logits = try m.forward(tokens, session: m.makeSession(), logits: .all)
                let error = relativeError(logits, want, V: V)
                print("\(fixture) \(dtype): max relative logit error vs f32 \(error)")
                XCTAssertLessThanOrEqual(error, bounds[dtype]!, "\(fixture) \(dtype)")

                // One token at a time (matrix-vector kernels) against the whole prompt (tiles + sgemm).
                let session = m.makeSession()
                var stepwise: [Float] = []
                for token in tokens { stepwise += try m.forward([token], session: session) }
                XCTAssertLessThanOrEqual(relativeError(stepwise, logits, V: V), 1e-5, "\(fixture) \(dtype) stepwise")
            }
        }
    }
}
