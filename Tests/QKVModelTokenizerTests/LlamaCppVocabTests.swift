import Foundation
import QKVFormat
import XCTest
@testable import QKVTokenizers

/// Every tokenizer test vector llama.cpp ships (`ggml-vocab-*.gguf` with `.inp` strings and `.out`
/// ids, which llama.cpp generates with Hugging Face `tokenizers`), read from `../shared/data` beside
/// the repository: each vocabulary is loaded from its tensor-less GGUF as `qkv tokenize` loads it, and
/// every string must give exactly the expected ids (no BOS/EOS, as the vectors are written).
final class LlamaCppVocabTests: XCTestCase {
    static var dataFolder: String {
        ProcessInfo.processInfo.environment["QKV_SHARED_DATA"] ?? Paths.root.deletingLastPathComponent().appendingPathComponent("shared/data").path
    }

    /// The `.inp` strings and `.out` id lists of one vocabulary.
    static func vectors(_ name: String) throws -> [(text: String, ids: [Int])] {
        let base = dataFolder + "/ggml-vocab-\(name).gguf"
        let inp = try String(contentsOfFile: base + ".inp", encoding: .utf8)
        let out = try String(contentsOfFile: base + ".out", encoding: .utf8)
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        let lines = out.components(separatedBy: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, texts.count, name)
        return texts.enumerated().map { index, text in (text, lines[index].split(separator: " ").map { Int($0)! }) }
    }

    func check(_ name: String, kind: TokenizerData.Kind, pre: String?) throws {
        let path = Self.dataFolder + "/ggml-vocab-\(name).gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("\(path) is missing: the shared data folder must sit beside the repository (or set QKV_SHARED_DATA)")
            return
        }
        let (data, config) = try TokenizerSource.load(path: path)
        XCTAssertEqual(data.kind, kind, name)
        // GPT-2's split is the default, recorded as no key.
        if case .string(let found)? = data.options["tokenizer.pre"] { XCTAssertEqual(found, pre, name) } else { XCTAssertNil(pre, name) }
        let tokenizer = try makeTokenizer(data: data, config: config)
        let vectors = try Self.vectors(name)
        XCTAssertGreaterThan(vectors.count, 30, name)
        var failures = 0
        for (index, vector) in vectors.enumerated() {
            let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
            if ids != vector.ids {
                failures += 1
                XCTFail("\(name) string \(index) \(vector.text.debugDescription): \(ids) (\(tokenizer.tokens(ids))) vs \(vector.ids) (\(tokenizer.tokens(vector.ids)))")
            }
        }
        XCTAssertEqual(failures, 0, name)
    }

    func testGPT2_everyVector() throws { try check("gpt-2", kind: .bpe, pre: nil) }
    func testStarCoder_everyVector() throws { try check("starcoder", kind: .bpe, pre: "starcoder") }
    func testDeepSeekLLM_everyVector() throws { try check("deepseek-llm", kind: .bpe, pre: "deepseek-llm") }
    func testDeepSeekCoder_everyVector() throws { try check("deepseek-coder", kind: .bpe, pre: "deepseek-coder") }
    func testLlamaSPM_everyVector() throws { try check("llama-spm", kind: .sentencepieceBPE, pre: nil) }
    func testPhi3_everyVector() throws { try check("phi-3", kind: .sentencepieceBPE, pre: nil) }
    func testBertBGE_everyVector() throws { try check("bert-bge", kind: .wordpiece, pre: nil) }

    /// Every vocabulary in the shared folder is one of those above, so a new one cannot go untested.
    func testEveryVocabularyInTheSharedFolder_isChecked() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.dataFolder)
            .filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf.inp") }
            .map { String($0.dropFirst("ggml-vocab-".count).dropLast(".gguf.inp".count)) }
        XCTAssertEqual(Set(names), ["gpt-2", "starcoder", "deepseek-llm", "deepseek-coder", "llama-spm", "phi-3", "bert-bge"])
    }
}
