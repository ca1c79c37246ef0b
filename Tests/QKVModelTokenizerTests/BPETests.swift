import Foundation
import Synchronization
@testable import QKVFormat
import XCTest
@testable import QKVTokenizers

/// The BPE tokenizers against Hugging Face (`tools/fixtures_bpe.py`): GPT-2's real vocabulary from
/// llama.cpp's ggml-vocab-gpt-2.gguf against `tokenizers`, and tiny.gguf's LLaMA vocabulary against
/// transformers' GGUF loader; both directions, id for id and string for string. Also WordPiece decode
/// against transformers, the factory, and one test per `TokenizerError` case the BPE tokenizers throw.
final class BPETests: XCTestCase {
    // MARK: GPT-2

    /// GPT-2's tokenizer data as the GGUF import reads it. The file has no tensors, so `GGUFModel` (which
    /// needs `token_embd.weight` for the config) cannot open it; the import's own tokenizer map is used.
    static let gpt2Data: (TokenizerData, ModelConfig) = {
        let file = try! GGUFFile(path: Paths.fixture("tokenizers/ggml-vocab-gpt-2.gguf"))
        var config = ModelConfig(
            family: .gpt2, vocabSize: 50257, modelDim: 64, layerCount: 1, headCount: 1, keyValueHeadCount: 1, headDim: 64,
            ffnDim: 256, maxPositions: 1024, norm: .layernorm, normEpsilon: 1e-5, normPlacement: .pre,
            activation: .geluTanh, positionEncoding: .learned)
        let data = try! GGUFMaps.tokenizer(file, config: &config)!
        return (data, config)
    }()

    static let gpt2: ByteLevelBPETokenizer = try! ByteLevelBPETokenizer(data: gpt2Data.0, config: gpt2Data.1)

    func testGPT2Data_isTheRealVocabulary() {
        let (data, config) = Self.gpt2Data
        XCTAssertEqual(data.kind, .bpe)
        XCTAssertEqual(data.tokens.count, 50257)
        XCTAssertEqual(data.merges?.count, 50000)
        XCTAssertEqual(config.specialTokens[.eos], 50256)
        XCTAssertNil(Self.gpt2.bosTokenID, "GPT-2 adds no BOS")
    }

    func testGPT2_everyFixtureCase_matchesTokenizersBothWays() throws {
        let fixture = try BPEFixture.load("bpe-gpt2.json")
        XCTAssertGreaterThan(fixture.cases.count, 100)
        let t = Self.gpt2
        for c in fixture.cases {
            let ids = t.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(c.name): \(t.tokens(ids)) vs \(t.tokens(c.ids))")
            XCTAssertEqual(t.encode(c.text, addSpecialTokens: false), c.ids, c.name)
            XCTAssertEqual(t.decode(c.ids), c.decoded, c.name)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.name)
            XCTAssertEqual(t.decode(ids), c.decoded, "\(c.name): decode(encode(text))")
        }
    }

    func testGPT2_llamaCppExpectedIds_allAgree() throws {
        // llama.cpp's own .inp/.out, read here without tokenizers: where llama.cpp and Hugging Face
        // disagree the fixture says so (none for GPT-2), and HF wins.
        let inp = try String(contentsOfFile: Paths.fixture("tokenizers/ggml-vocab-gpt-2.gguf.inp"), encoding: .utf8)
        let out = try String(contentsOfFile: Paths.fixture("tokenizers/ggml-vocab-gpt-2.gguf.out"), encoding: .utf8)
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        let lines = out.components(separatedBy: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, texts.count)
        let fixture = try BPEFixture.load("bpe-gpt2.json")
        XCTAssertEqual(fixture.llama_cpp_disagreements, [])
        for (index, text) in texts.enumerated() {
            let expected = lines[index].split(separator: " ").map { Int($0)! }
            XCTAssertEqual(Self.gpt2.encode(text), expected, "llama.cpp string \(index): \(text.debugDescription)")
        }
    }

    func testGPT2_decodeCases_cutUTF8AndSpecials() throws {
        let fixture = try BPEFixture.load("bpe-gpt2.json")
        for c in fixture.decode_cases {
            XCTAssertEqual(Self.gpt2.decode(c.ids), c.decoded, c.name)
            XCTAssertEqual(Self.gpt2.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.name)
        }
    }

    func testGPT2_everyScalarClass_matchesTheRegexInTokenizers() throws {
        let fixture = try BPEFixture.load("bpe-gpt2.json")
        let classes = try XCTUnwrap(fixture.scalar_classes)
        let letter = RangeSet(classes["letter"]!), number = RangeSet(classes["number"]!), space = RangeSet(classes["whitespace"]!)
        var mismatches: [String] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let expected: GPT2ScalarClass = letter.contains(value) ? .letter : number.contains(value) ? .number : space.contains(value) ? .whitespace : .other
            let found = gpt2Class(scalar)
            if found != expected && mismatches.count < 20 { mismatches.append(String(format: "U+%04X: %@ not %@", value, "\(found)", "\(expected)")) }
        }
        XCTAssertEqual(mismatches, [])
    }

    func testGPT2Words_followTheRegex() {
        let t = Self.gpt2
        XCTAssertEqual(t.words("Hello  world"), ["Hello", " ", " world"])
        XCTAssertEqual(t.words("it's   \n\n x"), ["it", "'s", "   \n\n", " x"])
        XCTAssertEqual(t.words("I'M don't"), ["I", "'", "M", " don", "'t"])
        XCTAssertEqual(t.words("a!!'s 12ab"), ["a", "!!'", "s", " 12", "ab"])
        XCTAssertEqual(t.words("end  "), ["end", "  "])
    }

    func testGPT2_addPrefixSpace_spacesEachStretch() throws {
        var (data, config) = Self.gpt2Data
        data.options["tokenizer.add_prefix_space"] = .bool(true)
        let t = try ByteLevelBPETokenizer(data: data, config: config)
        // " Hello" is 18435, "Hello" 15496; a stretch after a special token gets its space too.
        XCTAssertEqual(t.encode("Hello"), [18435])
        XCTAssertEqual(t.encode(" Hello"), [18435])
        XCTAssertEqual(t.encode("<|endoftext|>Hello"), [50256, 18435])
        XCTAssertEqual(Self.gpt2.encode("Hello"), [15496])
    }

    func testGPT2_addBosAndMaxLength_wrapAndTruncate() throws {
        var (data, config) = Self.gpt2Data
        data.options["tokenizer.add_bos"] = .bool(true)
        data.options["tokenizer.add_eos"] = .bool(true)
        data.options["tokenizer.max_length"] = .int(4)
        let t = try ByteLevelBPETokenizer(data: data, config: config)
        XCTAssertEqual(t.encode("Hello world, again"), [50256, 15496, 995, 50256])
        XCTAssertEqual(t.encode("Hello world, again", addSpecialTokens: false), [15496, 995, 11, 757])
    }

    func testGPT2_concurrentEncode_isTheSame() throws {
        let fixture = try BPEFixture.load("bpe-gpt2.json")
        let t = Self.gpt2
        let results = Mutex([Bool](repeating: false, count: fixture.cases.count))
        DispatchQueue.concurrentPerform(iterations: fixture.cases.count) { i in
            let same = t.encode(fixture.cases[i].text) == fixture.cases[i].ids
            results.withLock { $0[i] = same }
        }
        XCTAssertTrue(results.withLock { $0.allSatisfy { $0 } })
    }

    // MARK: LLaMA (tiny.gguf)

    /// Built once for the class (generating tiny.gguf's merges from its scores takes a moment in debug).
    static let tinyCache = Mutex<SentencePieceBPETokenizer?>(nil)
    static let tinyFirstCache = Mutex<SentencePieceBPETokenizer?>(nil)

    /// tiny.gguf's tokenizer as the GGUF import reads it: the dummy prefix before every stretch, as
    /// llama.cpp and Llama's own tokenizer.json (`tokenizer.prefix_scheme = prepend`).
    func tinyTokenizer() throws -> SentencePieceBPETokenizer {
        if let cached = Self.tinyCache.withLock({ $0 }) { return cached }
        let model = try tinyGGUFModel()
        let tokenizer = try SentencePieceBPETokenizer(data: try XCTUnwrap(model.tokenizer), config: model.config)
        Self.tinyCache.withLock { $0 = tokenizer }
        return tokenizer
    }

    /// The same vocabulary with Metaspace's `prepend_scheme: first`, as transformers converts a GGUF.
    func tinyFirstTokenizer() throws -> SentencePieceBPETokenizer {
        if let cached = Self.tinyFirstCache.withLock({ $0 }) { return cached }
        let model = try tinyGGUFModel()
        var data = try XCTUnwrap(model.tokenizer)
        XCTAssertEqual(data.options["tokenizer.prefix_scheme"], .string("prepend"))
        data.options["tokenizer.prefix_scheme"] = .string("first")
        let tokenizer = try SentencePieceBPETokenizer(data: data, config: model.config)
        Self.tinyFirstCache.withLock { $0 = tokenizer }
        return tokenizer
    }

    func testTinyGGUF_llamaCppDisagreements_areOnlyTheLeadingSpace() throws {
        // llama.cpp prefixes a space to every stretch, even one starting with a space or following a
        // special token; transformers' GGUF conversion (Metaspace, prepend_scheme "first") does neither.
        let fixture = try BPEFixture.load("spm-tinygguf.json")
        XCTAssertEqual(fixture.llama_cpp_disagreements, [
            "plain_leading_space", "one_space", "two_spaces", "many_spaces", "leading_trailing",
            "llama_specials_inline", "long_spaces_then_word",
        ])
        XCTAssertEqual(try tinyTokenizer().encode(" Hello world"), [1, 29871, 15043, 3186], "llama.cpp's")
        XCTAssertEqual(try tinyFirstTokenizer().encode(" Hello world"), [1, 15043, 3186], "transformers'")
    }

    func testTinyGGUF_everyFixtureCase_matchesLlamaCpp() throws {
        // The import's scheme: llama.cpp's ids where the fixture records them (its SPM transcribed in
        // tools/fixtures_bpe.py), transformers' where the two agree.
        let fixture = try BPEFixture.load("spm-tinygguf.json")
        let t = try tinyTokenizer()
        XCTAssertEqual(t.bosTokenID, 1)
        for c in fixture.cases {
            let expected = c.llama_cpp_ids ?? c.ids
            let ids = t.encode(c.text)
            XCTAssertEqual(ids, expected, "\(c.name): \(t.tokens(ids)) vs \(t.tokens(expected))")
            XCTAssertEqual(t.decode(c.ids), c.decoded, c.name)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.name)
        }
    }

    func testTinyGGUF_prefixFirst_matchesTransformersBothWays() throws {
        let fixture = try BPEFixture.load("spm-tinygguf.json")
        let t = try tinyFirstTokenizer()
        XCTAssertEqual(t.bosTokenID, 1)
        for c in fixture.cases {
            let ids = t.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(c.name): \(t.tokens(ids)) vs \(t.tokens(c.ids))")
            XCTAssertEqual(t.encode(c.text, addSpecialTokens: false), c.ids_without_specials, c.name)
            XCTAssertEqual(t.decode(c.ids), c.decoded, c.name)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.name)
            XCTAssertEqual(t.decode(ids), c.decoded, "\(c.name): decode(encode(text))")
        }
    }

    func testTinyGGUF_decodeCases_byteRunsAndSpecials() throws {
        let fixture = try BPEFixture.load("spm-tinygguf.json")
        let t = try tinyTokenizer()
        for c in fixture.decode_cases {
            XCTAssertEqual(t.decode(c.ids), c.decoded, c.name)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.name)
        }
    }

    func testTinyGGUF_throughTheFactory_isSentencePiece() throws {
        let model = try tinyGGUFModel()
        let t = try makeTokenizer(data: try XCTUnwrap(model.tokenizer), config: model.config)
        XCTAssertTrue(t is SentencePieceBPETokenizer)
        XCTAssertEqual(t.encode("Hello world"), [1, 15043, 3186])
        XCTAssertEqual(t.decode([1, 15043, 3186]), "Hello world")
    }

    func testSentencePiece_withMergesAndUnknown_fusesUnknownScalars() throws {
        // A hand-made vocabulary with merges (as a tokenizer.json import has), no byte tokens: unknown
        // scalars in a row are one <unk>, as tokenizers' fuse_unk.
        let tokens = ["<unk>", "<s>", "</s>", "\u{2581}", "a", "b", "ab", "\u{2581}ab"]
        var config = Self.gpt2Data.1
        config.specialTokens = [.unk: 0, .bos: 1, .eos: 2]
        let data = TokenizerData(kind: .sentencepieceBPE, tokens: tokens, tokenTypes: [2, 3, 3, 1, 1, 1, 1, 1],
                                 merges: ["a b", "\u{2581} ab"], options: ["tokenizer.byte_fallback": .bool(false)])
        let t = try SentencePieceBPETokenizer(data: data, config: config)
        XCTAssertEqual(t.encode("ab xyb"), [1, 7, 3, 0, 5])
        XCTAssertEqual(t.decode([1, 7, 3, 0, 5]), "ab b")
    }

    // MARK: WordPiece decode

    func testWordPieceDecode_matchesTransformers() throws {
        let fixture = try WordPieceDecodeFixture.load()
        let t = try minilmTokenizer()
        for c in fixture.cases {
            XCTAssertEqual(t.decode(c.ids), c.decoded, c.text)
            XCTAssertEqual(t.decode(c.ids, skipSpecialTokens: false), c.decoded_with_specials, c.text)
        }
    }

    func testWordPieceEncodeWithoutSpecials_dropsCLSAndSEP() throws {
        let t = try minilmTokenizer()
        XCTAssertEqual(t.encode("this is a test sentence", addSpecialTokens: false), [2023, 2003, 1037, 3231, 6251])
        XCTAssertEqual(t.encode("this is a test sentence", addSpecialTokens: true), [101, 2023, 2003, 1037, 3231, 6251, 102])
    }

    // MARK: Factory and errors

    func testFactory_choosesByKind() throws {
        let (data, config) = Self.gpt2Data
        XCTAssertTrue(try makeTokenizer(data: data, config: config) is ByteLevelBPETokenizer)
        let bert = try tinyModel()
        XCTAssertTrue(try makeTokenizer(data: try XCTUnwrap(bert.tokenizer), config: bert.config) is WordPieceTokenizer)
    }

    func testError_wrongKind() {
        let (data, config) = Self.gpt2Data
        assertThrows(TokenizerError.wrongKind(expected: .sentencepieceBPE, found: .bpe)) {
            _ = try SentencePieceBPETokenizer(data: data, config: config)
        }
        var spm = data
        spm.kind = .sentencepieceBPE
        assertThrows(TokenizerError.wrongKind(expected: .bpe, found: .sentencepieceBPE)) {
            _ = try ByteLevelBPETokenizer(data: spm, config: config)
        }
    }

    func testError_missingArray() {
        var (data, config) = Self.gpt2Data
        data.merges = nil
        assertThrows(TokenizerError.missingArray(key: "tokenizer.merges")) { _ = try ByteLevelBPETokenizer(data: data, config: config) }
        data.kind = .sentencepieceBPE
        assertThrows(TokenizerError.missingArray(key: "tokenizer.scores")) { _ = try SentencePieceBPETokenizer(data: data, config: config) }
    }

    func testError_invalidMerge() {
        var (data, config) = Self.gpt2Data
        data.merges = ["Ġ t", "nosuchtoken x"]
        assertThrows(TokenizerError.invalidMerge(index: 1, merge: "nosuchtoken x", reason: "not two tokens of the vocabulary whose concatenation is a token")) {
            _ = try ByteLevelBPETokenizer(data: data, config: config)
        }
    }

    func testError_missingSpecialToken() {
        var (data, config) = Self.gpt2Data
        data.options["tokenizer.add_bos"] = .bool(true)
        config.specialTokens[.bos] = nil
        assertThrows(TokenizerError.missingSpecialToken(.bos)) { _ = try ByteLevelBPETokenizer(data: data, config: config) }
    }

    func testError_specialTokenOutOfRange() {
        var (data, config) = Self.gpt2Data
        config.specialTokens[.pad] = 50257
        assertThrows(TokenizerError.specialTokenOutOfRange(.pad, id: 50257, tokenCount: 50257)) {
            _ = try ByteLevelBPETokenizer(data: data, config: config)
        }
        data.kind = .sentencepieceBPE
        assertThrows(TokenizerError.specialTokenOutOfRange(.pad, id: 50257, tokenCount: 50257)) {
            _ = try SentencePieceBPETokenizer(data: data, config: config)
        }
    }

    func testError_invalidOption() {
        var (data, config) = Self.gpt2Data
        data.options["tokenizer.add_prefix_space"] = .int(1)
        assertThrows(TokenizerError.invalidOption(key: "tokenizer.add_prefix_space", value: "\(MetadataValue.int(1))", reason: "expected a bool")) {
            _ = try ByteLevelBPETokenizer(data: data, config: config)
        }
    }
}
