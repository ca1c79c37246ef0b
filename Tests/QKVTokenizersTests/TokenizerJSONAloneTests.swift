import Foundation
import QKVTokenizers
import XCTest

/// A tokenizer built from a real `tokenizer.json` alone, with QKVTokenizers and no container library
/// (this target does not link QKVFormat): all-MiniLM-L6-v2's file against what Hugging Face `tokenizers`
/// recorded from the same file (Fixtures/tokenizers/wordpiece-minilm.json, tools/fixtures_tokenizers.py).
final class TokenizerJSONAloneTests: XCTestCase {
    /// The recorded cases: the text, its ids (truncated to the fixture's max_length), its ids untruncated,
    /// and the normalizer's output.
    struct Recorded: Decodable {
        struct Case: Decodable { var name: String; var text: String; var normalized: String; var ids: [Int]; var ids_untruncated: [Int] }
        var max_length: Int
        var cases: [Case]
    }

    func minilmTokenizerJSON() throws -> String {
        let path = Paths.minilm + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("MiniLM is missing at \(Paths.minilm): run tools/fetch-models.sh")
            throw CocoaError(.fileNoSuchFile)
        }
        return path
    }

    func testMiniLMTokenizerJSON_encodesAsTokenizers() throws {
        let tokenizer = try loadTokenizer(huggingFaceFile: try minilmTokenizerJSON())
        let wordPiece = try XCTUnwrap(tokenizer as? WordPieceTokenizer, "MiniLM's tokenizer.json is WordPiece")
        let recorded = try JSONDecoder().decode(Recorded.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/wordpiece-minilm.json"))))
        XCTAssertGreaterThanOrEqual(recorded.cases.count, 80)
        var compared = 0
        for c in recorded.cases {
            XCTAssertEqual(Array(wordPiece.normalize(c.text).unicodeScalars), Array(c.normalized.unicodeScalars), c.name)
            let untruncated = [wordPiece.clsTokenID] + wordPiece.encodeWithoutSpecials(c.text) + [wordPiece.sepTokenID]
            XCTAssertEqual(untruncated, c.ids_untruncated, "\(c.name): \(tokenizer.tokens(untruncated))")
            // The recorded truncation is sentence-transformers' 256, which tokenizer.json does not carry
            // (its tokenizer_config.json says 512): compare whole encodings where nothing was cut.
            if c.ids == c.ids_untruncated && c.ids.count <= wordPiece.maxLength {
                XCTAssertEqual(tokenizer.encode(c.text), c.ids, c.name)
                compared += 1
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 100)
    }
}
