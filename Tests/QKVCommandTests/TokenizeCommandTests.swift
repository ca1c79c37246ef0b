import Foundation
import XCTest

/// `qkv tokenize` as a user runs it: ids and pieces from a tensor-less GGUF, a tokenizer.json and a model
/// file, against llama.cpp's vectors and Hugging Face tokenizers' ids; exit codes for bad input.
extension CommandTests {
    /// The ids llama.cpp's .out gives for `text` in the GPT-2 vocabulary's test strings.
    func llamaCppIDs(_ text: String) throws -> [Int] {
        let inp = try String(contentsOfFile: fixture("tokenizers/ggml-vocab-gpt-2.gguf.inp"), encoding: .utf8)
        let out = try String(contentsOfFile: fixture("tokenizers/ggml-vocab-gpt-2.gguf.out"), encoding: .utf8)
        let texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        let index = try XCTUnwrap(texts.firstIndex(of: text))
        return out.components(separatedBy: "\n")[index].split(separator: " ").map { Int($0)! }
    }

    func testTensorlessGGUF_idsAreLlamaCpps() throws {
        let expected = try llamaCppIDs(" Hello, world!")
        let r = try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), " Hello, world!", "--ids")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, expected.map(String.init).joined(separator: ",") + "\n")
        XCTAssertEqual(r.stderr, "")
    }

    func testDefaultOutput_isOneLinePerTokenWithItsPiece() throws {
        let expected = try llamaCppIDs("Hello world")
        let r = try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), "Hello world")
        XCTAssertEqual(r.status, 0, r.stderr)
        // GPT-2's vocabulary spells a leading space as Ġ.
        XCTAssertEqual(r.stdout, String(format: "%8d  \"Hello\"\n%8d  \"Ġworld\"\n", expected[0], expected[1]))
    }

    func testTokenizerJSON_jsonMatchesTokenizers() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("tokenizers/hf-cases.json")))
        let cases = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["styles"] as? [String: Any])
        let llama3 = try XCTUnwrap(cases["llama3"] as? [[String: Any]])
        let hello = try XCTUnwrap(llama3.first { $0["text"] as? String == "Hello world" })
        let r = try qkv("tokenize", fixture("tokenizers/hf/llama3.json"), "Hello world", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let printed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(printed["ids"] as? [Int], hello["ids"] as? [Int])
        XCTAssertEqual(printed["pieces"] as? [String], hello["tokens"] as? [String])
        let plain = try qkv("tokenize", fixture("tokenizers/hf/llama3.json"), "Hello world", "--ids", "--no-special")
        XCTAssertEqual(plain.stdout, (hello["ids_without_specials"] as! [Int]).map(String.init).joined(separator: ",") + "\n")
    }

    func testSeveralTexts_oneLineEach() throws {
        let r = try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), "Hello world", " Hello, world!", "--ids")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, try [llamaCppIDs("Hello world"), llamaCppIDs(" Hello, world!")].map { $0.map(String.init).joined(separator: ",") + "\n" }.joined())
    }

    func testModelFile_usesItsTokenizer() throws {
        let r = try qkv("tokenize", fixture("hf/gpt2-tiny"), "hello", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("{\"ids\": ["), r.stdout)
    }

    func testTextFromFile() throws {
        let dir = try scratch()
        try " Hello, world!".write(toFile: "\(dir)/t.txt", atomically: true, encoding: .utf8)
        let r = try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), "--file", "\(dir)/t.txt", "--ids")
        XCTAssertEqual(r.stdout, try llamaCppIDs(" Hello, world!").map(String.init).joined(separator: ",") + "\n")
    }

    func testMissingFile_exitsTwoNamingIt() throws {
        let r = try qkv("tokenize", "/nonexistent/model.gguf", "x")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("/nonexistent/model.gguf"), r.stderr)
    }

    func testFileWithoutTokenizer_exitsOneNamingIt() throws {
        let dir = try scratch()
        let path = "\(dir)/tokenizer.json"
        try #"{"model": {"type": "Unigram", "vocab": []}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try qkv("tokenize", path, "x")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(path) && r.stderr.contains("Unigram"), r.stderr)
    }

    func testUsageErrors_exitTwo() throws {
        XCTAssertEqual(try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf")).status, 2, "no text")
        XCTAssertEqual(try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), "x", "--ids", "--json").status, 2)
        XCTAssertEqual(try qkv("tokenize", fixture("tokenizers/ggml-vocab-gpt-2.gguf"), "x", "--file", "-").status, 2, "text and --file")
    }
}

extension CommandTests {
    /// GPT-2's vocabulary GGUF with `tokenizer.ggml.pre` patched from "gpt-2" to "gpt-9" (same length).
    func unknownPreGGUF() throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("tokenizers/ggml-vocab-gpt-2.gguf"))))
        let key = Array("tokenizer.ggml.pre".utf8), value = Array("gpt-2".utf8)
        let at = try XCTUnwrap((0...(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key })
        // key, then the value type (u32) and length (u64), then the string.
        let start = at + key.count + 4 + 8
        XCTAssertEqual(Array(bytes[start..<(start + 5)]), value)
        bytes[start + 4] = UInt8(ascii: "9")
        let path = try scratch() + "/vocab.gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testUnknownPreTokenizer_exitsOneNamingItAndTheFile() throws {
        let path = try unknownPreGGUF()
        let r = try qkv("tokenize", path, "Hello")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(path) && r.stderr.contains("tokenizer.ggml.pre 'gpt-9'"), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }
}
