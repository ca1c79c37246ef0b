import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The GPT-2 and LLaMA decoders against transformers (PyTorch): every prompt position's logits and the
/// first 32 greedy tokens, from Fixtures/reference/decoders (tools/make_decoder_references.py).
final class DecoderReferenceTests: XCTestCase {
    static let root = TestFiles.root
    static let referenceDirectory = root.appendingPathComponent("Fixtures/reference/decoders")

    struct Case: Decodable {
        var name: String
        var model: String
        var dtype: String
        var prompt_ids: [Int]
        var logits: String
        var greedy_ids: [Int]
    }

    /// The case's model as the decoder runs it: converted to a .qkv in the case's dtype.
    func loadModel(_ c: Case, in dir: String) throws -> DecoderModel {
        let path = TestFiles.modelPath(c.model)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(path) is missing (run tools/fetch-models.sh)")
        let converted = "\(dir)/\(c.name).qkv"
        try Converter.convert(input: path, output: converted, format: .qkv, options: WriteOptions(dtype: DType(name: c.dtype)))
        return try DecoderModel(try ModelFile(try openWeightFile(path: converted)))
    }

    func testEveryCase_logitsAndGreedyTokensMatchTransformers() throws {
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: Self.referenceDirectory.appendingPathComponent("cases.json")))
        XCTAssertGreaterThanOrEqual(cases.count, 2)
        let dir = NSTemporaryDirectory() + "qkv-decoder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for c in cases {
            let model = try loadModel(c, in: dir)
            let expected = try TestFiles.loadNPY(Self.referenceDirectory.appendingPathComponent(c.logits))
            let V = model.config.vocabSize
            XCTAssertEqual(expected.count, c.prompt_ids.count * V, c.name)
            let logits = try model.forward(c.prompt_ids, session: model.makeSession(), logits: .all)
            // Relative error against the row's scale: max |ours - theirs| / max |theirs|, per position.
            var worst = 0.0
            for t in 0..<c.prompt_ids.count {
                let row = t * V
                var scale: Float = 0, diff: Float = 0
                for j in 0..<V {
                    scale = max(scale, abs(expected[row + j]))
                    diff = max(diff, abs(expected[row + j] - logits[row + j]))
                }
                worst = max(worst, Double(diff / max(scale, 1e-30)))
            }
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(c.name): logits differ from transformers by \(worst) relative")

            var generated: [Int] = []
            _ = try model.generate(prompt: c.prompt_ids, maxTokens: c.greedy_ids.count, stopAtEndOfText: false) { generated.append($0); return true }
            XCTAssertEqual(generated, c.greedy_ids, "\(c.name): greedy tokens differ from transformers")
            print("\(c.name) [\(c.dtype)]: max relative logit error \(worst), \(generated.count) greedy tokens identical: \(generated == c.greedy_ids)")
        }
    }
}
