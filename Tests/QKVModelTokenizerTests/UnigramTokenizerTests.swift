import Foundation
import QKVFormat
import XCTest
@testable import QKVTokenizers

/// SentencePiece Unigram tokenizers (XLM-RoBERTa) against Hugging Face `tokenizers`, id for id, on the
/// strings of tools/make_xlmr_references.py; and every way their data can be wrong, refused by name.
final class UnigramTokenizerTests: XCTestCase {
    struct Reference: Decodable {
        struct Tokenizer: Decodable {
            var with_special: [[Int]]
            var without_special: [[Int]]
            var pair: [[Int]]
            var decoded: [String]
            var normalized: [String]
        }
        var strings: [String]
        var query: String
        var documents: [String]
        var tokenizers: [String: Tokenizer]
    }

    static let reference: Reference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Paths.fixture("reference/xlmr.json")))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    /// The tokenizer.json of each reference tokenizer.
    static func path(_ name: String) -> String {
        name == "xlmr-transformers5" ? Paths.fixture("xlmr/e5-small-shaped/tokenizer.json") : Paths.fixture("tokenizers/unigram/\(name).json")
    }

    func load(_ name: String) throws -> UnigramTokenizer {
        let (data, config) = try TokenizerSource.load(path: Self.path(name))
        XCTAssertEqual(data.kind, .unigram, name)
        return try UnigramTokenizer(data: data, config: config)
    }

    func check(_ name: String, decodes: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let t = try load(name)
        let want = try XCTUnwrap(Self.reference.tokenizers[name])
        XCTAssertGreaterThanOrEqual(Self.reference.strings.count, 40)
        for (i, text) in Self.reference.strings.enumerated() {
            let ids = t.encode(text)
            XCTAssertEqual(ids, want.with_special[i], "\(name) \(text.debugDescription): \(t.tokens(ids))", file: file, line: line)
            XCTAssertEqual(t.encode(text, addSpecialTokens: false), want.without_special[i], "\(name) \(text.debugDescription)", file: file, line: line)
            XCTAssertEqual(t.normalize(text), want.normalized[i], "\(name) \(text.debugDescription)", file: file, line: line)
            if decodes { XCTAssertEqual(t.decode(want.with_special[i]), want.decoded[i], "\(name) \(text.debugDescription)", file: file, line: line) }
        }
        for (i, document) in Self.reference.documents.enumerated() {
            let pair = t.encodePair(Self.reference.query, document)
            XCTAssertEqual(pair.ids, want.pair[i], "\(name) pair \(i)", file: file, line: line)
            XCTAssertEqual(pair.typeIDs, Array(repeating: 0, count: pair.ids.count), file: file, line: line)
        }
    }

    func testTransformersConversion_charsmapStripCollapseMetaspace() throws { try check("xlmr") }
    func testHubForm_charsmapReplaceMetaspace() throws { try check("xlmr-hub") }
    func testTransformers5Form_whitespaceSplitBeforeMetaspace() throws { try check("xlmr-transformers5") }
    /// Byte fallback and NFKC, Strip both ends, Metaspace `first`. Its tokenizer.json has no ByteFallback
    /// decoder (transformers' converter writes none), so decoding is not compared.
    func testByteFallback_nfkcStripFirst() throws { try check("byte-fallback", decodes: false) }

    func testImport_recordsTheNormalizersAndPreTokenizer() throws {
        let (hub, config) = try TokenizerSource.load(path: Self.path("xlmr-hub"))
        XCTAssertEqual(hub.options["tokenizer.collapse_spaces"], .string(" "))
        XCTAssertEqual(hub.options["tokenizer.prefix_scheme"], .string("always"))
        XCTAssertNil(hub.options["tokenizer.strip"])
        guard case .string(let map)? = hub.options["tokenizer.precompiled_charsmap"] else { return XCTFail("no charsmap") }
        XCTAssertNoThrow(try PrecompiledCharsmap(base64: map))
        XCTAssertEqual(config.specialTokens[.unk], 3)
        XCTAssertEqual(hub.options["tokenizer.add_bos"], .bool(true))
        XCTAssertEqual(hub.options["tokenizer.add_eos"], .bool(true))
        let (t5, _) = try TokenizerSource.load(path: Self.path("xlmr-transformers5"))
        XCTAssertEqual(t5.options["tokenizer.whitespace_split"], .bool(true))
        let (fallback, _) = try TokenizerSource.load(path: Self.path("byte-fallback"))
        XCTAssertEqual(fallback.options["tokenizer.byte_fallback"], .bool(true))
        XCTAssertEqual(fallback.options["tokenizer.strip"], .string("both"))
        XCTAssertEqual(fallback.options["tokenizer.normalization"], .string("nfkc"))
        XCTAssertEqual(fallback.options["tokenizer.prefix_scheme"], .string("first"))
        XCTAssertEqual(fallback.tokenTypes?.filter { $0 == 6 }.count, 256)
    }

    // MARK: The charsmap blob

    /// The hub tokenizer's charsmap bytes, to break.
    func charsmapBytes() throws -> [UInt8] {
        let (data, _) = try TokenizerSource.load(path: Self.path("xlmr-hub"))
        guard case .string(let text)? = data.options["tokenizer.precompiled_charsmap"] else { throw MissingModel(path: "charsmap") }
        return [UInt8](try XCTUnwrap(Data(base64Encoded: text)))
    }

    func testCharsmap_truncatedTrie() throws {
        let bytes = try charsmapBytes()
        let trie = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        let cut = Array(bytes.prefix(4 + trie - 4))
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: cut)) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .truncated(trieBytes: trie, blobBytes: cut.count)) }
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: [1, 0])) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .truncated(trieBytes: 0, blobBytes: 2)) }
    }

    func testCharsmap_trieSizeNotAMultipleOfFour() throws {
        var bytes = try charsmapBytes()
        bytes[0] &+= 1
        let trie = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: bytes)) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .truncated(trieBytes: trie, blobBytes: bytes.count)) }
    }

    func testCharsmap_overlongSizeField() throws {
        var bytes = try charsmapBytes()
        bytes[3] = 0x7F
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: bytes)) { error in
            guard case .truncated? = error as? PrecompiledCharsmap.Problem else { return XCTFail("\(error)") }
        }
    }

    func testCharsmap_stringsNotUTF8() throws {
        var bytes = try charsmapBytes()
        bytes[bytes.count - 2] = 0xFF
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: bytes)) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .notUTF8) }
    }

    func testCharsmap_emptyTrieAndNotBase64() throws {
        XCTAssertThrowsError(try PrecompiledCharsmap(bytes: [0, 0, 0, 0, 0x61, 0])) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .emptyTrie) }
        XCTAssertThrowsError(try PrecompiledCharsmap(base64: "not base64!")) { XCTAssertEqual($0 as? PrecompiledCharsmap.Problem, .notBase64) }
    }

    /// A trie whose units point outside it finds no rule and reads nothing outside the blob.
    func testCharsmap_wildTrieIndicesMatchNothing() throws {
        // Root unit with offset 2^21 (bits 10..31), then a few units.
        let units: [UInt32] = [0xFFFF_FC00, 0x0000_0161, 0, 0]
        var bytes: [UInt8] = [16, 0, 0, 0]
        for unit in units { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8 & 0xFF), UInt8(unit >> 16 & 0xFF), UInt8(unit >> 24)] }
        bytes += [0x62, 0]
        let map = try PrecompiledCharsmap(bytes: bytes)
        XCTAssertNil(map.shortestPrefixValue(Array("abc".utf8)))
        XCTAssertEqual(map.normalize("abc ÿ"), "abc ÿ")
    }

    /// Random corruptions of a real charsmap (bytes flipped in the trie and the strings, the size field
    /// changed): each is refused or, accepted, normalizes every reference string without reading outside
    /// the blob (the test process would crash).
    func testCharsmap_randomCorruptionsAreRefusedOrHarmless() throws {
        let original = try charsmapBytes()
        var state: UInt64 = 18
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var accepted = 0
        for round in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + next(16)) { bytes[next(bytes.count)] = UInt8(next(256)) }
            if round % 10 == 0 { bytes[next(4)] = UInt8(next(256)) }
            guard let map = try? PrecompiledCharsmap(bytes: bytes) else { continue }
            accepted += 1
            for text in Self.reference.strings { _ = map.normalize(text) }
        }
        XCTAssertGreaterThan(accepted, 0)
    }

    func testTokenizer_refusesABadCharsmapNamingTheKey() throws {
        var (data, config) = try TokenizerSource.load(path: Self.path("xlmr-hub"))
        data.options["tokenizer.precompiled_charsmap"] = .string(Data(try charsmapBytes().prefix(40)).base64EncodedString())
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            guard case TokenizerError.invalidOption("tokenizer.precompiled_charsmap", _, let reason)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("does not fit"), reason)
        }
        config.vocabSize = data.tokens.count
        var metadata = Metadata()
        for (key, value) in config.metadata { metadata[key] = value }
        for (key, value) in data.metadata { metadata[key] = value }
        XCTAssertThrowsError(try TokenizerData(metadata: metadata, config: config, file: "m.qkv")) { error in
            guard case ModelError.invalidValue("m.qkv", "tokenizer.precompiled_charsmap", _, _)? = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    // MARK: Options

    func testTokenizer_needsScoresAndAnUnknownToken() throws {
        var (data, config) = try TokenizerSource.load(path: Self.path("xlmr"))
        let scores = data.scores
        data.scores = nil
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { XCTAssertEqual($0 as? TokenizerError, .missingArray(key: "tokenizer.scores")) }
        data.scores = scores
        config.specialTokens[.unk] = nil
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { XCTAssertEqual($0 as? TokenizerError, .missingSpecialToken(.unk)) }
    }

    func testTokenizer_refusesStripAndPrefixValuesItDoesNotKnow() throws {
        var (data, config) = try TokenizerSource.load(path: Self.path("xlmr"))
        data.options["tokenizer.strip"] = .string("middle")
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            guard case .invalidOption("tokenizer.strip", _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        data.options["tokenizer.strip"] = nil
        data.options["tokenizer.prefix_scheme"] = .string("prepend")
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            guard case .invalidOption("tokenizer.prefix_scheme", _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        data.options["tokenizer.prefix_scheme"] = nil
        data.options["tokenizer.unigram_rules"] = .string("sentencepiece")
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            guard case .invalidOption("tokenizer.unigram_rules", _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        data.options["tokenizer.collapse_spaces"] = .string("_")
        data.options["tokenizer.unigram_rules"] = nil
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            guard case .invalidOption("tokenizer.collapse_spaces", _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
        config.specialTokens[.unk] = 5000
        XCTAssertThrowsError(try UnigramTokenizer(data: data, config: config)) { error in
            XCTAssertEqual(error as? TokenizerError, .specialTokenOutOfRange(.unk, id: 5000, tokenCount: data.tokens.count))
        }
    }

    // MARK: tokenizer.json parts qkv does not read

    /// The hub tokenizer.json with `change` applied, loaded: the error it gives.
    func importError(_ change: (inout [String: Any]) -> Void) throws -> ImportError? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-unigram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.path("xlmr-hub")))) as! [String: Any]
        change(&json)
        let path = dir.appendingPathComponent("tokenizer.json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        do {
            _ = try TokenizerSource.load(path: path)
            return nil
        } catch let error as ImportError {
            guard case .tokenizer(let file, _) = error, file == path else { XCTFail("\(error) does not name \(path)"); return error }
            return error
        }
    }

    func reason(_ error: ImportError?) -> String {
        if case .tokenizer(_, let reason)? = error { reason } else { "no error" }
    }

    func testImport_refusesMetaspaceWithoutSplit() throws {
        let error = try importError { json in
            json["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": false]
        }
        XCTAssertTrue(reason(error).contains("split: false"), reason(error))
    }

    func testImport_refusesNormalizersOutOfOrderOrUnknown() throws {
        let swapped = try importError { json in
            var normalizer = json["normalizer"] as! [String: Any]
            normalizer["normalizers"] = Array((normalizer["normalizers"] as! [Any]).reversed())
            json["normalizer"] = normalizer
        }
        XCTAssertTrue(reason(swapped).contains("comes after"), reason(swapped))
        let lowercase = try importError { json in json["normalizer"] = ["type": "Lowercase"] }
        XCTAssertTrue(reason(lowercase).contains("'Lowercase'"), reason(lowercase))
    }

    func testImport_refusesABrokenCharsmap() throws {
        let error = try importError { json in
            json["normalizer"] = ["type": "Precompiled", "precompiled_charsmap": Data([200, 0, 0, 0, 1, 2]).base64EncodedString()]
        }
        XCTAssertTrue(reason(error).contains("precompiled_charsmap cannot be read"), reason(error))
    }

    func testImport_refusesBadVocabularyAndUnknownID() throws {
        let entry = try importError { json in
            var model = json["model"] as! [String: Any]
            var vocab = model["vocab"] as! [Any]
            vocab[7] = "just a string"
            model["vocab"] = vocab
            json["model"] = model
        }
        XCTAssertTrue(reason(entry).contains("model.vocab[7]"), reason(entry))
        let unk = try importError { json in
            var model = json["model"] as! [String: Any]
            model["unk_id"] = NSNull()
            json["model"] = model
        }
        XCTAssertTrue(reason(unk).contains("unk_id"), reason(unk))
        let added = try importError { json in
            var tokens = json["added_tokens"] as! [[String: Any]]
            tokens[0]["id"] = 9
            json["added_tokens"] = tokens
        }
        XCTAssertTrue(reason(added).contains("is not the model's token of that id"), reason(added))
    }

    func testImport_refusesAnotherPreTokenizer() throws {
        let error = try importError { json in json["pre_tokenizer"] = ["type": "Whitespace"] }
        XCTAssertTrue(reason(error).contains("needs a Metaspace pre-tokenizer"), reason(error))
    }
}
