import Foundation
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// Every architecture's tiny random model (Fixtures/reference/archs, tools/make_arch_references.py)
/// against transformers: from the Hugging Face folder and from llama.cpp's GGUF of it, the logits at
/// every prompt position and 32 greedy tokens; and both round trips, HF -> .qkv -> HF (tensors
/// byte-identical) and GGUF -> .qkv -> GGUF (files byte-identical).
final class ArchitectureReferenceTests: XCTestCase {
    static let directory = TestFiles.root.appendingPathComponent("Fixtures/reference/archs")

    struct Reference: Decodable {
        var name: String
        var prompt_ids: [Int]
        var greedy_ids: [Int]
        var logits: String
        var greedy_ids_without_sliding_window: [Int]?
        /// LongRoPE: the logits of the prompt's first `short_prompt_length` tokens run alone (short factors).
        var short_prompt_logits: String?
        var short_prompt_length: Int?
    }

    static var folders: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/references.json").path) }
            .sorted()
    }

    func reference(_ folder: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.directory.appendingPathComponent("\(folder)/references.json")))
    }

    func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "qkv-archs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Max over positions of max |ours - theirs| / max |theirs|.
    func worstRelativeError(_ expected: [Float], _ logits: [Float], rows: Int, vocab V: Int) -> Double {
        var worst = 0.0
        for t in 0..<rows {
            var scale: Float = 0, diff: Float = 0
            for j in 0..<V {
                scale = max(scale, abs(expected[t * V + j]))
                diff = max(diff, abs(expected[t * V + j] - logits[t * V + j]))
            }
            worst = max(worst, Double(diff / max(scale, 1e-30)))
        }
        return worst
    }

    func testEveryArchitecture_fromItsFolderAndItsGGUF_matchesTransformers() throws {
        let folders = Self.folders
        XCTAssertEqual(Set(folders), ["gemma2", "gemma3", "llama3", "mistral", "phi3", "phi3-longrope", "qwen2", "qwen2-yarn", "qwen3", "smollm2"])
        for folder in folders {
            let r = try reference(folder)
            let expected = try TestFiles.loadNPY(Self.directory.appendingPathComponent("\(folder)/\(r.logits)"))
            let hf = try DecoderModel(try ModelFile(try openWeightFile(path: Self.directory.appendingPathComponent(folder).path)))
            let gguf = try DecoderModel(try ModelFile(try openWeightFile(path: Self.directory.appendingPathComponent("\(folder)/model.gguf").path)))
            for (source, model) in [("folder", hf), ("gguf", gguf)] {
                // llama.cpp's GGUF of a windowed Mistral is `llama`, which has no window: the reference
                // without it applies.
                let windowLost = source == "gguf" && hf.config.slidingWindow > 0 && model.config.slidingWindow == 0
                let V = model.config.vocabSize
                if !windowLost {
                    let logits = try model.forward(r.prompt_ids, session: model.makeSession(), logits: .all)
                    let worst = worstRelativeError(expected, logits, rows: r.prompt_ids.count, vocab: V)
                    XCTAssertLessThanOrEqual(worst, 1e-4, "\(folder) (\(source)): logits differ from transformers by \(worst) relative")
                }
                var generated: [Int] = []
                _ = try model.generate(prompt: r.prompt_ids, maxTokens: r.greedy_ids.count, stopAtEndOfText: false) { generated.append($0); return true }
                let want = windowLost ? (r.greedy_ids_without_sliding_window ?? []) : r.greedy_ids
                XCTAssertEqual(generated, want, "\(folder) (\(source)): greedy tokens differ from transformers\(windowLost ? " without the window" : "")")
            }
        }
    }

    /// LongRoPE chooses its divisors by the session's length (Specs/schema.md): a session within the
    /// original context rotates with the short factors, as transformers does for a sequence that short; the
    /// prompt of the test above is longer than it and is run in a longer session, with the long factors.
    func testLongRope_sessionWithinTheOriginalContext_usesTheShortFactors() throws {
        let folder = "phi3-longrope"
        let r = try reference(folder)
        let file = try XCTUnwrap(r.short_prompt_logits), count = try XCTUnwrap(r.short_prompt_length)
        let expected = try TestFiles.loadNPY(Self.directory.appendingPathComponent("\(folder)/\(file)"))
        for source in [folder, "\(folder)/model.gguf"] {
            let model = try DecoderModel(try ModelFile(try openWeightFile(path: Self.directory.appendingPathComponent(source).path)))
            let rope = try XCTUnwrap(model.config.rope)
            let original = try XCTUnwrap(rope.originalContext)
            XCTAssertLessThanOrEqual(count, original)
            XCTAssertNotEqual(rope.frequencyFactors, rope.longFrequencyFactors)
            let prompt = Array(r.prompt_ids.prefix(count))
            let short = try model.forward(prompt, session: model.makeSession(capacity: original), logits: .all)
            let worst = worstRelativeError(expected, short, rows: count, vocab: model.config.vocabSize)
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(source): short-factor logits differ from transformers by \(worst) relative")
            // The same tokens in a session longer than the original context rotate with the long factors.
            let long = try model.forward(prompt, session: model.makeSession(capacity: original + 1), logits: .all)
            XCTAssertGreaterThan(worstRelativeError(expected, long, rows: count, vocab: model.config.vocabSize), 1e-2, "\(source): the long factors should change the logits")
        }
    }

    func testEveryArchitecture_roundTripsThroughQKV() throws {
        for folder in Self.folders {
            let dir = try scratch()
            let source = Self.directory.appendingPathComponent(folder).path
            // HF -> .qkv -> HF: every tensor with its name, dtype, shape and bytes.
            try Converter.convert(input: source, output: "\(dir)/m.qkv", format: .qkv, options: WriteOptions())
            try Converter.convert(input: "\(dir)/m.qkv", output: "\(dir)/hf/", format: .safetensors, options: WriteOptions())
            let original = try SafetensorsFile(path: "\(source)/model.safetensors")
            let back = try SafetensorsFile(path: "\(dir)/hf/model.safetensors")
            XCTAssertEqual(Set(back.tensors.map(\.name)), Set(original.tensors.map(\.name)), folder)
            for info in original.tensors {
                let a = try original.tensor(info.name), b = try back.tensor(info.name)
                XCTAssertEqual(b.shape, a.shape, "\(folder): \(info.name)")
                XCTAssertTrue(a.hasSameBytes(as: b), "\(folder): \(info.name) changed in HF -> .qkv -> HF")
            }
            // GGUF -> .qkv -> GGUF: the same file.
            let gguf = "\(source)/model.gguf"
            try Converter.convert(input: gguf, output: "\(dir)/g.qkv", format: .qkv, options: WriteOptions())
            try Converter.convert(input: "\(dir)/g.qkv", output: "\(dir)/g.gguf", format: .gguf, options: WriteOptions())
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/g.gguf")), try Data(contentsOf: URL(fileURLWithPath: gguf)),
                           "\(folder): GGUF -> .qkv -> GGUF is not byte-identical")
        }
    }
}
