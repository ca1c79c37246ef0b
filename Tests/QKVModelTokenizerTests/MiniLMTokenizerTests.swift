import Foundation
import QKVFormat
import XCTest
@testable import QKVTokenizers

/// The tokenizer of the real all-MiniLM-L6-v2, loaded through QKVFormat, against what Hugging Face
/// tokenizers (the Rust library) does with the same tokenizer.json (tools/fixtures_tokenizers.py).
final class MiniLMTokenizerTests: XCTestCase {
    func testGoldenSentence_isTheKnownIDs() throws {
        let tokenizer = try minilmTokenizer()
        XCTAssertEqual(tokenizer.encode("this is a test sentence"), [101, 2023, 2003, 1037, 3231, 6251, 102])
    }

    func testMiniLMOptions_areReadFromTheModelFile() throws {
        let tokenizer = try minilmTokenizer()
        XCTAssertEqual([tokenizer.clsTokenID, tokenizer.sepTokenID, tokenizer.unkTokenID], [101, 102, 100])
        XCTAssertEqual(tokenizer.padTokenID, 0)
        XCTAssertEqual(tokenizer.maxLength, 256)
        XCTAssertEqual(tokenizer.maxWordScalars, 100)
        XCTAssertEqual([tokenizer.normalizer.cleanText, tokenizer.normalizer.handleChineseChars,
                        tokenizer.normalizer.stripAccents, tokenizer.normalizer.lowercase], [true, true, true, true])
    }

    func testEveryFixtureString_givesTokenizersIDsTruncatedTo256() throws {
        let tokenizer = try minilmTokenizer()
        let fixture = try WordPieceFixture.load()
        XCTAssertEqual(fixture.max_length, tokenizer.maxLength)
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 80)
        for c in fixture.cases {
            let ids = tokenizer.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(c.name) (\(c.note)): tokens \(tokenizer.tokens(ids)) expected \(c.tokens)")
        }
    }

    func testEveryFixtureString_givesTokenizersIDsUntruncated() throws {
        let tokenizer = try minilmTokenizer()
        for c in try WordPieceFixture.load().cases {
            let ids = [tokenizer.clsTokenID] + tokenizer.encodeWithoutSpecials(c.text) + [tokenizer.sepTokenID]
            XCTAssertEqual(ids, c.ids_untruncated, "\(c.name) (\(c.note)): tokens \(tokenizer.tokens(ids))")
        }
    }

    func testEveryFixtureString_normalizesAsTokenizers() throws {
        let tokenizer = try minilmTokenizer()
        for c in try WordPieceFixture.load().cases {
            // Compared as scalars: String == would accept a canonically equivalent result.
            XCTAssertEqual(Array(tokenizer.normalize(c.text).unicodeScalars), Array(c.normalized.unicodeScalars), c.name)
        }
    }

    func testEveryFixtureString_showsTokenizersTokens() throws {
        let tokenizer = try minilmTokenizer()
        for c in try WordPieceFixture.load().cases {
            XCTAssertEqual(tokenizer.tokens(c.ids), c.tokens, c.name)
        }
    }

    func testFixture_coversTruncationBothWays() throws {
        let cases = try WordPieceFixture.load().cases
        XCTAssertTrue(cases.contains { $0.ids_untruncated.count > 256 && $0.ids.count == 256 }, "a text longer than 256 pieces")
        XCTAssertTrue(cases.contains { $0.ids_untruncated.count == 256 && $0.ids == $0.ids_untruncated }, "a text of exactly 256")
    }

    /// Every Unicode scalar alone through the normalizer, and between two letters through the
    /// pre-tokenizer, against tokenizers: the character classes, NFD, lowercase and CJK ranges, exhaustively.
    func testEveryScalar_normalizesAndSplitsAsTokenizers() throws {
        let tokenizer = try minilmTokenizer()
        let fixture = try ScalarFixture.load()
        let removed = RangeSet(fixture.removed), space = RangeSet(fixture.space), padded = RangeSet(fixture.cjk_padded)
        let whitespace = RangeSet(fixture.pre_tokenizer_whitespace), punctuation = RangeSet(fixture.pre_tokenizer_punctuation)
        var mapped: [UInt32: [UInt32]] = [:]
        for entry in fixture.mapped {
            guard case .scalar(let cp) = entry[0], case .list(let out) = entry[1] else { return XCTFail("bad mapped entry") }
            mapped[cp] = out
        }
        XCTAssertGreaterThan(mapped.count, 14_000)
        var failures = 0
        for value in UInt32(0)..<0x110000 {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let expected: [UInt32] = mapped[value]
                ?? (removed.contains(value) ? [] : space.contains(value) ? [0x20] : padded.contains(value) ? [0x20, value, 0x20] : [value])
            let got = tokenizer.normalizer.normalize(CollectionOfOne(scalar)).map(\.value)
            let words = bertWords(["a", scalar, "b"])
            let expectedWords = whitespace.contains(value) ? 2 : punctuation.contains(value) ? 3 : 1
            if got != expected || words.count != expectedWords {
                failures += 1
                if failures <= 20 {
                    XCTFail(String(format: "U+%04X: normalized to %@ (tokenizers %@), %d words (tokenizers %d)", value,
                                   got.map { String($0, radix: 16) }.description, expected.map { String($0, radix: 16) }.description,
                                   words.count, expectedWords))
                }
            }
        }
        XCTAssertEqual(failures, 0, "scalars that differ from tokenizers")
    }

    /// Not a benchmark: 1,000 sentences and a few very long inputs must come back at once and agree with
    /// the fixture, which they would not do in time if any step were quadratic in the text.
    func testEncodingManySentencesAndHugeTexts_isLinear() throws {
        let tokenizer = try minilmTokenizer()
        let cases = try WordPieceFixture.load().cases
        for i in 0..<1_000 {
            let c = cases[i % cases.count]
            XCTAssertEqual(tokenizer.encode(c.text), c.ids, c.name)
        }
        let sentence = "The cat sat on the mat, and the dog played in the garden. "
        let pieces = tokenizer.encodeWithoutSpecials(sentence)
        XCTAssertEqual(pieces.count, 15)
        let huge = String(repeating: sentence, count: 20_000)                     // 1.18 million scalars
        XCTAssertEqual(tokenizer.encodeWithoutSpecials(huge), Array([[Int]](repeating: pieces, count: 20_000).joined()))
        XCTAssertEqual(tokenizer.encode(huge), [101] + Array([[Int]](repeating: pieces, count: 20).joined()).prefix(254) + [102])
        XCTAssertEqual(tokenizer.encode(String(repeating: "x", count: 1_000_000)), [101, 100, 102], "one million-scalar word")
        XCTAssertEqual(tokenizer.encodeWithoutSpecials(String(repeating: "中", count: 200_000)).count, 200_000)
        XCTAssertEqual(tokenizer.encodeWithoutSpecials(String(repeating: "[MASK]", count: 100_000)).count, 100_000)
        // Foundation's NFD on Linux is quadratic on these two; ours must not be.
        XCTAssertEqual(tokenizer.encodeWithoutSpecials(String(repeating: "é", count: 500_000) + " ok").count, 2)
        XCTAssertEqual(tokenizer.encodeWithoutSpecials("e" + String(repeating: "\u{301}\u{316}", count: 200_000) + " ok"),
                       tokenizer.encodeWithoutSpecials("e ok"))
    }
}
