import Foundation
import QKVFormat
import QKVTokenizers
import XCTest
@testable import QKVInference

/// XLM-RoBERTa encoders and BERT/XLM-R cross-encoders against what sentence-transformers computed for the
/// random fixtures of tools/make_xlmr_references.py (Fixtures/reference/xlmr.json).
final class XLMRobertaTests: XCTestCase {
    struct Reference: Decodable {
        struct Encoder: Decodable {
            struct Case: Decodable { var prompt_name: String?; var embeddings: [[Float]] }
            var texts: [String]
            var token_ids: [[Int]]
            var cases: [Case]
            var normalize: Bool
        }
        struct Reranker: Decodable {
            struct Ranked: Decodable { var corpus_id: Int; var score: Float }
            var pairs: [[String]]
            var scores: [Float]
            var token_ids: [[Int]]
            var token_type_ids: [[Int]]?
            var rank: [Ranked]
        }
        struct Tokenizer: Decodable { var with_special: [[Int]] }
        struct LlamaCpp: Decodable { var texts: [String]; var prompt_tokens: [Int]; var embeddings: [[Float]] }
        var strings: [String]
        var query: String
        var documents: [String]
        var encoders: [String: Encoder]
        var rerankers: [String: Reranker]
        var tokenizers: [String: Tokenizer]
        var llamacpp_gguf: LlamaCpp
    }

    static let reference: Reference = {
        let data = try! Data(contentsOf: TestFiles.root.appendingPathComponent("Fixtures/reference/xlmr.json"))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    static func folder(_ name: String) -> String { TestFiles.root.appendingPathComponent("Fixtures/xlmr/\(name)").path }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double { cosineSimilarity(a, b) }

    func testEncoders_matchSentenceTransformers() throws {
        XCTAssertEqual(Set(Self.reference.encoders.keys), ["e5-small-shaped", "bge-m3-shaped", "paraphrase-shaped"])
        for (name, encoder) in Self.reference.encoders {
            let embedder = try SentenceEmbedder(path: Self.folder(name))
            XCTAssertEqual(embedder.encoder.config.positionOffset, 2, name)
            for (text, ids) in zip(encoder.texts, encoder.token_ids) {
                XCTAssertEqual(embedder.tokenizer.encode(text), ids, "\(name) \(text.debugDescription)")
            }
            for test in encoder.cases {
                let vectors = try embedder.embed(encoder.texts, prompt: test.prompt_name.map { .named($0) } ?? .modelDefault)
                var worst: Float = 0
                for (i, (got, want)) in zip(vectors, test.embeddings).enumerated() {
                    XCTAssertGreaterThanOrEqual(Self.cosine(got, want), 0.9999, "\(name) \(encoder.texts[i].debugDescription)")
                    worst = max(worst, zip(got, want).map { abs($0 - $1) }.max() ?? 0)
                }
                XCTAssertLessThan(worst, 2e-6, "\(name) prompt \(test.prompt_name ?? "none")")
            }
        }
    }

    func testRerankers_matchCrossEncoderPredict() throws {
        XCTAssertEqual(Set(Self.reference.rerankers.keys), ["xlmr-reranker", "bert-reranker"])
        for (name, reranker) in Self.reference.rerankers {
            let model = try CrossEncoder(path: Self.folder(name))
            let pairs = reranker.pairs.map { model.tokenizer.encodePair($0[0], $0[1]) }
            for (i, pair) in pairs.enumerated() {
                XCTAssertEqual(pair.ids, reranker.token_ids[i], "\(name) pair \(i)")
                XCTAssertEqual(pair.typeIDs, reranker.token_type_ids?[i] ?? Array(repeating: 0, count: pair.ids.count), "\(name) pair \(i)")
            }
            let scores = try model.scores(pairs: pairs)
            for (i, (got, want)) in zip(scores, reranker.scores).enumerated() {
                XCTAssertEqual(got, want, accuracy: 1e-6, "\(name) pair \(i)")
            }
            let ranked = try model.rank(query: Self.reference.query, documents: Self.reference.documents)
            XCTAssertEqual(ranked.map(\.index), reranker.rank.map(\.corpus_id), name)
            XCTAssertEqual(try model.rank(query: Self.reference.query, documents: Self.reference.documents, topN: 2).map(\.index),
                           Array(reranker.rank.map(\.corpus_id).prefix(2)), name)
        }
    }

    /// A pair longer than the tokenizer's maximum (128 for the XLM-R reranker, 64 for BERT) is cut by
    /// longest_first and still scores; the cut pair has exactly the maximum length.
    func testLongPairs_areCutToTheMaximumLength() throws {
        for (name, limit) in [("xlmr-reranker", 128), ("bert-reranker", 64)] {
            let model = try CrossEncoder(path: Self.folder(name))
            let long = String(repeating: "the quick brown fox jumps over the lazy dog ", count: 40)
            let pair = model.tokenizer.encodePair("a short query", long)
            XCTAssertEqual(pair.ids.count, limit, name)
            XCTAssertEqual(try model.scores(pairs: [pair]).count, 1)
        }
    }

    func testConvertedRerankers_giveTheSameScores() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-xlmr-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["xlmr-reranker", "bert-reranker"] {
            let original = try CrossEncoder(path: Self.folder(name)).scores(query: Self.reference.query, documents: Self.reference.documents)
            try Converter.convert(input: Self.folder(name), output: "\(dir)/\(name).qkv", format: .qkv)
            try Converter.convert(input: "\(dir)/\(name).qkv", output: "\(dir)/\(name).h5", format: .hdf5)
            try Converter.convert(input: "\(dir)/\(name).h5", output: "\(dir)/\(name)-back/", format: .safetensors)
            var paths = ["\(dir)/\(name).qkv", "\(dir)/\(name).h5", "\(dir)/\(name)-back/"]
            // XLM-R's head goes to GGUF as llama.cpp's `cls` + `cls.output`, its positions cut to start at 0.
            if name == "xlmr-reranker" {
                try Converter.convert(input: Self.folder(name), output: "\(dir)/\(name).gguf", format: .gguf)
                paths.append("\(dir)/\(name).gguf")
            }
            for path in paths {
                XCTAssertEqual(try CrossEncoder(path: path).scores(query: Self.reference.query, documents: Self.reference.documents), original, path)
            }
        }
    }

    /// llama.cpp's GGUF of e5-small-shaped (`bert` with the position table cut, a `t5` tokenizer): the same
    /// ids as tokenizers where whitespace is single spaces between words, and the same vectors up to the
    /// normalisation GGUF does not record.
    func testLlamaCppGGUF_givesTheSameIDsAndVectors() throws {
        let gguf = TestFiles.root.appendingPathComponent("Fixtures/xlmr/e5-small-shaped.gguf").path
        let embedder = try SentenceEmbedder(path: gguf)
        XCTAssertEqual(embedder.encoder.config.positionOffset, 0)
        XCTAssertEqual(embedder.encoder.config.maxPositions, 64)
        let reference = Self.reference.encoders["e5-small-shaped"]!
        let ids = Self.reference.tokenizers["xlmr-transformers5"]!.with_special
        var compared = 0
        for (text, want) in zip(Self.reference.strings, ids) {
            let plain = !text.isEmpty && !text.contains("  ") && !text.hasPrefix(" ") && !text.hasSuffix(" ") && !text.contains("<") && !text.contains("\u{2581}")
                && !text.unicodeScalars.contains { $0.properties.isWhitespace && $0 != " " }
            guard plain else { continue }
            XCTAssertEqual(embedder.tokenizer.encode(text), want, text.debugDescription)
            guard let row = reference.texts.firstIndex(of: text) else { continue }
            let vector = try embedder.embed([text])[0]
            XCTAssertGreaterThanOrEqual(Self.cosine(vector, reference.cases[0].embeddings[row]), 0.9999, text.debugDescription)
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 25)
    }

    /// The same GGUF against llama.cpp itself (its /embeddings through xllamacpp): as many tokens for every
    /// reference string (whitespace runs, tabs, added and unknown tokens typed in the text included) and the
    /// same vector, normalised as llama-server does.
    func testLlamaCppGGUF_equalsLlamaCppsTokenCountsAndVectors() throws {
        let embedder = try SentenceEmbedder(path: TestFiles.root.appendingPathComponent("Fixtures/xlmr/e5-small-shaped.gguf").path)
        let reference = Self.reference.llamacpp_gguf
        XCTAssertGreaterThanOrEqual(reference.texts.count, 40)
        var worst: Float = 0
        for (i, text) in reference.texts.enumerated() {
            XCTAssertEqual(embedder.tokenizer.encode(text).count, reference.prompt_tokens[i], text.debugDescription)
            var vector = try embedder.embed([text])[0]
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vector = vector.map { $0 / norm }
            XCTAssertGreaterThanOrEqual(Self.cosine(vector, reference.embeddings[i]), 0.9999, text.debugDescription)
            worst = max(worst, zip(vector, reference.embeddings[i]).map { abs($0 - $1) }.max() ?? 0)
        }
        XCTAssertLessThan(worst, 5e-4)   // ggml computes GELU from an f16 table
        print("largest difference from llama.cpp's normalised vectors:", worst)
    }

    func testRerankOnAnEncoderWithoutHead_isAClearError() throws {
        XCTAssertThrowsError(try CrossEncoder(path: Self.folder("e5-small-shaped"))) { error in
            XCTAssertEqual(error as? InferenceError, .notAReranker(file: Self.folder("e5-small-shaped"), labelCount: 0))
        }
    }

    func testTokenTypeOutOfRange_isAnError() throws {
        let model = try CrossEncoder(path: Self.folder("xlmr-reranker"))
        XCTAssertThrowsError(try model.scores(pairs: [(ids: [0, 5, 2], typeIDs: [0, 1, 0])])) { error in
            XCTAssertEqual(error as? InferenceError, .tokenTypeOutOfRange(type: 1, typeCount: 1))
        }
    }
}
