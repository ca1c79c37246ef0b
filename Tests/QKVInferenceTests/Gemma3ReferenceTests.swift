import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The real Gemma 3 270M (its Q4_K_M GGUF as llama.cpp's converter wrote it, run from the mapping)
/// against transformers on the same weights dequantized to float32 (Fixtures/reference/gemma3,
/// tools/make_gemma3_references.py): last-position logits and 24 greedy tokens per prompt, a 760-token
/// prompt among them so the 512-token sliding window matters.
final class Gemma3ReferenceTests: XCTestCase {
    static let referenceDirectory = TestFiles.root.appendingPathComponent("Fixtures/reference/gemma3")

    struct Reference: Decodable {
        var cases: [Case]
    }

    struct Case: Decodable {
        var name: String
        var prompt_ids: [Int]
        var greedy_ids: [Int]
        var last_logits: String?
    }

    func testRealGemma3_logitsAndGreedyTokensMatchTransformers() throws {
        let path = TestFiles.modelPath("QKV_MODELS:gemma3/gemma-3-270m-q4_k_m.gguf")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(path) is missing (run tools/fetch-models.sh)")
        let model = try DecoderModel(try ModelFile(try openWeightFile(path: path)))
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.referenceDirectory.appendingPathComponent("cases.json")))
        XCTAssertGreaterThanOrEqual(reference.cases.count, 5)
        XCTAssertTrue(reference.cases.contains { $0.prompt_ids.count > 512 }, "one prompt must be longer than the sliding window")
        for c in reference.cases {
            let session = model.makeSession(capacity: c.prompt_ids.count + c.greedy_ids.count)
            if let file = c.last_logits {
                let expected = try TestFiles.loadNPY(Self.referenceDirectory.appendingPathComponent(file))
                let logits = try model.forward(c.prompt_ids, session: session)
                XCTAssertEqual(expected.count, logits.count, c.name)
                // Max |ours - theirs| relative to the range of their logits.
                let range = expected.max()! - expected.min()!
                let difference = zip(expected, logits).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(difference / range, 1e-3, "\(c.name): logits differ from transformers by \(difference) of a range of \(range)")
                print("gemma3 \(c.name): max logit difference \(difference) (\(difference / range) of the range \(range))")
                session.reset()
            }
            var generated: [Int] = []
            _ = try model.generate(prompt: c.prompt_ids, maxTokens: c.greedy_ids.count, stopAtEndOfText: false) { generated.append($0); return true }
            XCTAssertEqual(generated, c.greedy_ids, "\(c.name): greedy tokens differ from transformers")
        }
    }
}
