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
        XCTAssertEqual(Set(folders), ["gemma2", "gemma3", "llama3", "mistral", "phi3", "qwen2", "qwen3", "smollm2"])
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
