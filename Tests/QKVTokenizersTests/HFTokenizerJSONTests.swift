import Foundation
import QKVSchema
import XCTest
@testable import QKVTokenizers

/// A tokenizer.json decides its own tokenizer: the style fixtures of tools/fixtures_hf_tokenizers.py
/// (Llama 3, Qwen2, SmolLM2, Gemma, Llama 2, Metaspace) against Hugging Face `tokenizers` id for id,
/// and every part qkv does not implement refused by name.
final class HFTokenizerJSONTests: XCTestCase {
    struct Cases: Decodable {
        struct Case: Decodable { var text: String; var ids: [Int]; var ids_without_specials: [Int]; var tokens: [String] }
        var styles: [String: [Case]]
    }

    static let cases: Cases = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/hf-cases.json")))
        return try! JSONDecoder().decode(Cases.self, from: data)
    }()

    func check(_ style: String, kind: TokenizerData.Kind, file: StaticString = #filePath, line: UInt = #line) throws {
        let (data, config) = try HFTokenizerImport.standalone(jsonPath: Paths.fixture("tokenizers/hf/\(style).json"))
        XCTAssertEqual(data.kind, kind, style, file: file, line: line)
        let t = try makeTokenizer(data: data, config: config)
        let cases = try XCTUnwrap(Self.cases.styles[style])
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for c in cases {
            let ids = t.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(style) \(c.text.debugDescription): \(t.tokens(ids)) vs \(c.tokens)", file: file, line: line)
            XCTAssertEqual(t.encode(c.text, addSpecialTokens: false), c.ids_without_specials, "\(style) \(c.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(t.tokens(c.ids), c.tokens, style, file: file, line: line)
        }
    }

    func testLlama3Style_splitRegexIgnoreMergesAndBOS() throws { try check("llama3", kind: .bpe) }
    func testQwen2Style_nfcAndSplitRegex() throws { try check("qwen2", kind: .bpe) }
    func testSmolLM2Style_digitsThenByteLevel() throws { try check("smollm2", kind: .bpe) }
    func testGemmaStyle_noDummyPrefixByteFallback() throws { try check("gemma", kind: .sentencepieceBPE) }
    func testLlama2Style_prependNormalizer() throws { try check("llama2", kind: .sentencepieceBPE) }
    func testMetaspaceStyle_prependFirst() throws { try check("metaspace", kind: .sentencepieceBPE) }
    func testPhi3Style_addedTokensStripWhitespace() throws { try check("phi3", kind: .sentencepieceBPE) }

    func testLlama3Style_recordsItsSplitAndOptions() throws {
        let (data, config) = try HFTokenizerImport.standalone(jsonPath: Paths.fixture("tokenizers/hf/llama3.json"))
        guard case .stringArray(let patterns)? = data.options["tokenizer.pre_split"] else { return XCTFail("no tokenizer.pre_split") }
        XCTAssertEqual(patterns.count, 1)
        XCTAssertTrue(patterns[0].contains(#"\p{N}{1,3}"#))
        XCTAssertEqual(data.options["tokenizer.ignore_merges"], .bool(true))
        XCTAssertEqual(data.options["tokenizer.pre"], .string("llama-bpe"), "the name llama.cpp's converter writes for Llama 3")
        XCTAssertEqual(data.options["tokenizer.add_bos"], .bool(true))
        XCTAssertEqual(config.specialTokens[.bos].map { data.tokens[$0] }, "<|begin_of_text|>")
    }

    func testStyles_getLlamaCppsNameWhereItHasOne() throws {
        for (style, name) in [("qwen2", "qwen2"), ("smollm2", "starcoder")] {
            let (data, _) = try HFTokenizerImport.standalone(jsonPath: Paths.fixture("tokenizers/hf/\(style).json"))
            XCTAssertEqual(data.options["tokenizer.pre"], .string(name), style)
            guard case .stringArray(let patterns)? = data.options["tokenizer.pre_split"] else { return XCTFail(style) }
            XCTAssertEqual(patterns, LlamaCppPreTokenizer.table[name]?.patterns, style)
        }
    }

    // MARK: Refusals

    /// llama3.json with `edit` applied to its JSON object, saved in a scratch folder; the error text.
    func refusal(_ style: String = "llama3", _ edit: (inout [String: Any]) -> Void) throws -> String {
        let source = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/hf/\(style).json")))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: source) as? [String: Any])
        edit(&json)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-tokjson-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tokenizer.json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        do {
            _ = try loadTokenizer(huggingFaceFile: path)
            XCTFail("accepted")
            return ""
        } catch {
            XCTAssertTrue("\(error)".contains(path), "names the file: \(error)")
            return "\(error)"
        }
    }

    func testWordLevel_isRefusedByName() throws {
        let message = try refusal { json in
            var model = json["model"] as! [String: Any]
            model["type"] = "WordLevel"
            json["model"] = model
        }
        XCTAssertTrue(message.contains("'WordLevel'"), message)
    }

    func testSplitRemoved_isRefusedByName() throws {
        let message = try refusal { json in
            var pre = json["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["behavior"] = "Removed"
            pre["pretokenizers"] = steps
            json["pre_tokenizer"] = pre
        }
        XCTAssertTrue(message.contains("'Removed'"), message)
    }

    func testUnknownNormalizer_isRefusedByName() throws {
        let message = try refusal { json in json["normalizer"] = ["type": "Lowercase"] }
        XCTAssertTrue(message.contains("'Lowercase'"), message)
    }

    func testAddedTokenSingleWord_isRefusedByName() throws {
        let message = try refusal { json in
            var added = json["added_tokens"] as! [[String: Any]]
            added[0]["single_word"] = true
            json["added_tokens"] = added
        }
        XCTAssertTrue(message.contains("single_word"), message)
    }

    func testMetaspaceSplit_isRefused() throws {
        let message = try refusal("metaspace") { json in
            var pre = json["pre_tokenizer"] as! [String: Any]
            pre["split"] = true
            json["pre_tokenizer"] = pre
        }
        XCTAssertTrue(message.contains("split"), message)
    }

    func testBadSplitRegex_isRefusedWhenTheTokenizerIsMade() throws {
        let message = try refusal { json in
            var pre = json["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": "(unclosed"]
            pre["pretokenizers"] = steps
            json["pre_tokenizer"] = pre
        }
        XCTAssertTrue(message.contains("tokenizer.pre_split") && message.contains("(unclosed"), message)
    }

    // MARK: GGUF names

    func testUnknownGGUFPreTokenizer_isRefusedByName() throws {
        let data = TokenizerData(kind: .bpe, tokens: ["a", "b", "ab"], merges: ["a b"], options: ["tokenizer.pre": .string("no-such-pre")])
        let config = ModelConfig(family: .gpt2, vocabSize: 3, modelDim: 1, layerCount: 1, headCount: 1, keyValueHeadCount: 1, headDim: 1,
                                 ffnDim: 1, maxPositions: 8, norm: .layernorm, normEpsilon: 1e-5, normPlacement: .pre,
                                 activation: .geluTanh, positionEncoding: .learned)
        XCTAssertThrowsError(try ByteLevelBPETokenizer(data: data, config: config)) { error in
            XCTAssertTrue("\(error)".contains("'no-such-pre'"), "\(error)")
        }
    }

    /// Every llama.cpp name in the table compiles, so none fails only when a user loads such a model.
    func testEveryLlamaCppName_compiles() throws {
        XCTAssertGreaterThanOrEqual(LlamaCppPreTokenizer.table.count, 85)
        for name in LlamaCppPreTokenizer.table.keys.sorted() {
            XCTAssertNoThrow(try PreTokenizer.named(name), name)
        }
    }

    /// Every llama.cpp name's regexes cut test strings (scripts, cases, digits, whitespace, emoji) as
    /// Hugging Face tokenizers' Oniguruma does (Fixtures/tokenizers/pre-splits.json).
    func testEveryLlamaCppName_splitsAsTokenizers() throws {
        struct Splits: Decodable { var texts: [String]; var names: [String: [[String]]] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/pre-splits.json")))
        let splits = try JSONDecoder().decode(Splits.self, from: data)
        XCTAssertEqual(Set(splits.names.keys), Set(LlamaCppPreTokenizer.table.keys))
        var mismatches: [String] = []
        for (name, expected) in splits.names.sorted(by: { $0.key < $1.key }) {
            let pre = try PreTokenizer.named(name)
            for (text, words) in zip(splits.texts, expected) where pre.words(text) != words {
                mismatches.append("\(name) \(text.debugDescription): \(pre.words(text)) vs \(words)")
            }
        }
        XCTAssertEqual(mismatches, [])
    }

    /// Names whose regexes Swift and Oniguruma read alike are split as tokenizers splits them.
    func testRegexSplits_followTheRegexes() throws {
        let superbpe = try PreTokenizer.named("superbpe")
        XCTAssertEqual(superbpe.words("a 1234567"), ["a ", "1", "234", "567"])
        let llama3 = try PreTokenizer.named("llama3")
        XCTAssertEqual(llama3.words("I'M 12345  ok\n\nx"), ["I", "'M", " ", "123", "45", " ", " ok", "\n\n", "x"])
    }
}
