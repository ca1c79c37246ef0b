import QKVFormat
import XCTest
@testable import QKVTokenizers

/// One behaviour per test, on bert-tiny.h5's 64-token vocabulary (ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3,
/// [MASK] 4, "." 5, "," 6, "!" 7, "?" 8, "'" 9, the 10, a 11, an 12, and 16, cat 22, dog 23, sat 24, on 25,
/// mat 26, hello 27, world 28, play 29, jump 31, read 32, good 34, new 37, old 38, big 39, sun 43,
/// star 45, ##s 46, ##ed 47, ##ing 48, ##est 51, ##y 52, ##n 53, ##ness 55, ##able 56). Expected ids
/// were checked against Hugging Face tokenizers built from the same vocabulary.
final class WordPieceTests: XCTestCase {
    func tiny() throws -> WordPieceTokenizer {
        let model = try tinyModel()
        return try WordPieceTokenizer(data: try XCTUnwrap(model.tokenizer), config: model.config)
    }

    // MARK: WordPiece

    func testEncode_wrapsPiecesInCLSAndSEP() throws {
        XCTAssertEqual(try tiny().encode("the cat sat on the mat."), [2, 10, 22, 24, 25, 10, 26, 5, 3])
    }

    func testUnknownWord_isOneUNK() throws {
        XCTAssertEqual(try tiny().encode("the zebra sat"), [2, 10, 1, 24, 3])
    }

    func testContinuations_areDoubleHashPieces() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("playing jumped cats dogs"), [2, 29, 48, 31, 47, 22, 46, 23, 46, 3])
        XCTAssertEqual(t.encode("sunny"), [2, 43, 53, 52, 3])
        XCTAssertEqual(t.encode("goodness readable"), [2, 34, 55, 32, 56, 3])
    }

    func testLongestMatchFirst_takesTheLongestVocabularyPrefix() throws {
        XCTAssertEqual(try tiny().encode("and an a"), [2, 16, 12, 11, 3])
    }

    func testWordWhoseRestHasNoPiece_isOneUNKNotAPrefixPlusUNK() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("stars startled"), [2, 45, 46, 1, 3])
        XCTAssertEqual(t.encode("newest biggest"), [2, 37, 51, 1, 3])
    }

    // (Without specials and truncation from here on: bert-tiny's max_length is 64.)
    func testWordOf100Scalars_isSplit_101_isUNK() throws {
        let t = try tiny()
        XCTAssertEqual(t.encodeWithoutSpecials("sun" + String(repeating: "n", count: 97)), [43] + Array(repeating: 53, count: 97))
        XCTAssertEqual(t.encodeWithoutSpecials("sun" + String(repeating: "n", count: 98)), [1])
    }

    func testWordLength_countsScalarsAfterNormalization() throws {
        // 101 scalars typed, 100 once the accent is stripped.
        XCTAssertEqual(try tiny().encodeWithoutSpecials("su\u{301}n" + String(repeating: "n", count: 97)), [43] + Array(repeating: 53, count: 97))
        // 51 Characters but 102 scalars: tokenizers counts chars (scalars), so the word is too long.
        let devanagari = try tokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "क", "##ि", "##क"])
        XCTAssertEqual(devanagari.encodeWithoutSpecials(String(repeating: "कि", count: 50)), [5, 6] + Array(repeating: [7, 6], count: 49).joined())
        XCTAssertEqual(devanagari.encodeWithoutSpecials(String(repeating: "कि", count: 51)), [1])
    }

    func testContinuationPrefix_isMatchedOnScalarsNotCharacters() throws {
        // "##" + U+093E is one Character after "#" in Swift, so String.hasPrefix("##") is false for it.
        let t = try tokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ह", "##ा", "##थ"])
        XCTAssertFalse("##\u{93E}".hasPrefix("##"))
        XCTAssertEqual(t.encode("हाथ"), [2, 5, 6, 7, 3])
    }

    func testVocabularyLookup_comparesBytesNotCanonicalEquivalence() throws {
        // Swift's String == says "é" == "e\u{301}"; tokenizers compares bytes. Accents kept here.
        let t = try tokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u{E9}", "e"],
                              options: ["tokenizer.clean_text": .bool(true)])
        XCTAssertEqual(t.encode("\u{E9}"), [2, 5, 3])
        XCTAssertEqual(t.encode("e\u{301}"), [2, 1, 3])
    }

    func testRepeatedToken_keepsItsLastID() throws {
        let t = try tokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "cat"])
        XCTAssertEqual(t.encode("cat"), [2, 6, 3])
    }

    // MARK: Normalizer and pre-tokenizer

    func testPunctuation_isSplitOffAsItsOwnWord() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("hello,world!?"), [2, 27, 6, 28, 7, 8, 3])
        XCTAssertEqual(t.encode("the.cat"), [2, 10, 5, 22, 3])
        XCTAssertEqual(t.encode("cat's"), [2, 22, 9, 1, 3])
        XCTAssertEqual(t.encode("$cat"), [2, 1, 22, 3], "$ is ASCII punctuation")
        XCTAssertEqual(t.encode("€cat"), [2, 1, 3], "€ is a currency symbol: it stays in the word")
    }

    func testChineseCharacters_becomeSeparateWordsButKanaDoNot() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("cat中dog"), [2, 22, 1, 23, 3])
        XCTAssertEqual(t.encode("catのdog"), [2, 1, 3])
        XCTAssertEqual(t.normalize("a中b\u{F900}"), "a 中 b \u{8C48} ")
    }

    func testAccents_areStrippedAndTextLowercased() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("Hélló Wörld"), [2, 27, 28, 3])
        XCTAssertEqual(t.encode("He\u{301}llo HELLO"), [2, 27, 27, 3])
        XCTAssertEqual(t.encode("ÇAT"), [2, 22, 3])
        XCTAssertEqual(t.normalize("Ångström İstanbul Øre ß"), "angstrom istanbul øre ß")
    }

    func testCapitalSigma_lowercasesToMedialSigmaEverywhere() throws {
        // Rust's char::to_lowercase has no context; Python's str.lower would end the word with ς.
        XCTAssertEqual(try tiny().normalize("ΟΔΟΣ ΣΑΣ"), "οδοσ σασ")
    }

    func testControlAndFormatCharacters_areDroppedAndWhitespaceBecomesSpace() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("c\u{200B}at d\u{FEFF}og s\u{AD}un"), [2, 22, 23, 43, 3])
        XCTAssertEqual(t.encode("cat\u{0}dog"), [2, 1, 3], "U+0000 is dropped, joining the words")
        XCTAssertEqual(t.encode("cat\tdog\u{A0}sun\u{3000}moon\u{2028}star"), [2, 22, 23, 43, 44, 45, 3])
        XCTAssertEqual(t.normalize("a\u{FFFD}\u{85}\u{0B}b\u{E000}c\u{378}"), "abc\u{378}", "U+0085 and VT are controls first; unassigned stays")
    }

    func testEmptyAndBlankText_isCLSAndSEPOnly() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode(""), [2, 3])
        XCTAssertEqual(t.encode(" \t\n\r\u{3000}"), [2, 3])
        XCTAssertEqual(t.encodeWithoutSpecials(""), [])
    }

    func testSpecialTokensTypedInText_areMatchedBeforeNormalization() throws {
        let t = try tiny()
        XCTAssertEqual(t.encode("the [MASK] sat"), [2, 10, 4, 24, 3])
        XCTAssertEqual(t.encode("the [mask] sat"), [2, 10, 1, 1, 1, 24, 3], "lowercase is not the token")
        XCTAssertEqual(t.encode("cat[SEP]s"), [2, 22, 3, 1, 3], "the text after a special token starts a new word")
        XCTAssertEqual(t.encode("[CLS]"), [2, 2, 3])
    }

    // MARK: NFD

    func testNFD_decomposesAndOrdersMarksByCombiningClass() {
        func nfd(_ text: String) -> [UInt32] { canonicalDecomposition(Array(text.unicodeScalars)).map(\.value) }
        XCTAssertEqual(nfd("e\u{301}\u{316}"), [0x65, 0x316, 0x301], "below (220) before above (230)")
        XCTAssertEqual(nfd("\u{1EC7}"), [0x65, 0x323, 0x302], "ệ")
        XCTAssertEqual(nfd("\u{E9}\u{F73}"), [0x65, 0xF71, 0xF72, 0x301], "a starter whose decomposition starts with marks")
        XCTAssertEqual(nfd("한"), [0x1112, 0x1161, 0x11AB], "Hangul by the algorithm")
        XCTAssertEqual(nfd("가"), [0x1100, 0x1161], "no trailing consonant")
        XCTAssertEqual(nfd("\u{11938}"), [0x11938], "decomposed only since Unicode 13, after tokenizers' data")
        XCTAssertEqual(nfd("\u{212B}"), [0x41, 0x30A], "Ångström sign")
        XCTAssertEqual(nfd("a\u{1D16D}\u{1DFA}"), [0x61, 0x1D16D, 0x1DFA], "U+1DFA (class 218 since Unicode 10) is a starter to tokenizers")
    }

    // MARK: Truncation and specials

    func testTruncation_keepsMaxLengthIDsIncludingCLSAndSEP() throws {
        let ids = try tiny().encode(String(repeating: "cat ", count: 100))
        XCTAssertEqual(ids, [2] + Array(repeating: 22, count: 62) + [3])
    }

    func testTruncation_cutsBetweenTheWordPiecesOfOneWord() throws {
        let ids = try tiny().encode(String(repeating: "a ", count: 61) + "playing")
        XCTAssertEqual(ids, [2] + Array(repeating: 11, count: 61) + [29, 3])
    }

    func testEncodeWithoutSpecials_addsNoCLSOrSEPAndDoesNotTruncate() throws {
        XCTAssertEqual(try tiny().encodeWithoutSpecials(String(repeating: "cat ", count: 100)), Array(repeating: 22, count: 100))
    }

    func testTokens_areTheVocabularyStrings() throws {
        let t = try tiny()
        XCTAssertEqual(t.tokens([2, 22, 46, 1, 3]), ["[CLS]", "cat", "##s", "[UNK]", "[SEP]"])
        XCTAssertEqual(t.tokens([64, -1]), ["[UNK]", "[UNK]"], "ids outside the vocabulary")
    }

    // MARK: Options and errors

    func testAbsentOptions_followTheSchemaDefaults() throws {
        // No lowercase, accents kept, no CJK spacing, no cleaning; "##" prefix; max_length = max_positions.
        let t = try tokenizer(options: [:])
        XCTAssertEqual(t.encode("Cat"), [2, 1, 3])
        XCTAssertEqual(t.encode("cats"), [2, 22, 46, 3])
        XCTAssertEqual(t.maxLength, 64)
        XCTAssertNil(t.maxWordScalars)
        XCTAssertEqual(t.normalize("É\u{200B}中"), "É\u{200B}中")
    }

    func testNotWordPieceData_isWrongKind() throws {
        let model = try tinyModel()
        var data = try XCTUnwrap(model.tokenizer)
        data.kind = .bpe
        assertThrows(TokenizerError.wrongKind(expected: .wordpiece, found: .bpe)) {
            _ = try WordPieceTokenizer(data: data, config: model.config)
        }
    }

    func testMissingCLSSEPOrUNK_isMissingSpecialToken() throws {
        let model = try tinyModel()
        for token in [ModelConfig.SpecialToken.cls, .sep, .unk] {
            var config = model.config
            config.specialTokens[token] = nil
            assertThrows(TokenizerError.missingSpecialToken(token)) {
                _ = try WordPieceTokenizer(data: try XCTUnwrap(model.tokenizer), config: config)
            }
        }
        var config = model.config
        config.specialTokens[.pad] = nil
        XCTAssertNil(try WordPieceTokenizer(data: try XCTUnwrap(model.tokenizer), config: config).padTokenID, "[PAD] is optional")
    }

    func testSpecialTokenIDOutsideTheVocabulary_isAnError() throws {
        assertThrows(TokenizerError.specialTokenOutOfRange(.mask, id: 4, tokenCount: 3)) {
            _ = try tokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]"])
        }
    }

    func testMaxLengthWithoutRoomForCLSAndSEP_isInvalid() throws {
        assertThrows(TokenizerError.invalidOption(key: "tokenizer.max_length", value: "1", reason: "expected an int from 2 to 2147483647")) {
            _ = try tokenizer(options: ["tokenizer.max_length": .int(1)])
        }
        XCTAssertEqual(try tokenizer(options: ["tokenizer.max_length": .int(2)]).encode("cat dog"), [2, 3])
    }

    func testOptionOfTheWrongType_isInvalid() throws {
        assertThrows(TokenizerError.invalidOption(key: "tokenizer.lowercase", value: "\(MetadataValue.int(1))", reason: "expected a bool")) {
            _ = try tokenizer(options: ["tokenizer.lowercase": .int(1)])
        }
    }

    func testErrors_describeThemselves() {
        XCTAssertEqual(TokenizerError.missingSpecialToken(.cls).description, "the config has no 'config.cls_token_id', which the tokenizer needs")
        XCTAssertEqual(TokenizerError.wrongKind(expected: .wordpiece, found: .bpe).description, "the tokenizer data is 'bpe', expected 'wordpiece'")
    }
}
