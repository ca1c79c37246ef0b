import Foundation
import QKVFormat
import QKVSchema
import QKVTokenizers
import XCTest
@testable import QKVInference

/// English RoBERTa encoders and cross-encoders, whose byte-level BPE tokenizer wraps text with
/// tokenizers' `RobertaProcessing` (`<s> A </s>`, pairs `<s> A </s></s> B </s>`), against what
/// sentence-transformers computed for the random fixtures of tools/make_roberta_references.py
/// (Fixtures/reference/roberta.json).
final class RobertaTests: XCTestCase {
    struct Reference: Decodable {
        struct Embedder: Decodable { var texts: [String]; var token_ids: [[Int]]; var embeddings: [[Float]] }
        struct Reranker: Decodable {
            struct Ranked: Decodable { var corpus_id: Int; var score: Float }
            var pairs: [[String]]
            var scores: [Float]
            var max_length: Int
            var token_ids: [[Int]]
            var rank: [Ranked]
        }
        var query: String
        var documents: [String]
        var embedder: Embedder
        var reranker: Reranker
    }

    static let reference: Reference = {
        let data = try! Data(contentsOf: TestFiles.root.appendingPathComponent("Fixtures/reference/roberta.json"))
        return try! JSONDecoder().decode(Reference.self, from: data)
    }()

    static func folder(_ name: String) -> String { TestFiles.root.appendingPathComponent("Fixtures/roberta/\(name)").path }

    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-roberta-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// `<s> … </s>` around every text (RobertaProcessing), cut at sentence-transformers' max_seq_length,
    /// and the vectors sentence-transformers gives.
    func testEmbedder_matchesSentenceTransformers() throws {
        let reference = Self.reference.embedder
        let embedder = try SentenceEmbedder(path: Self.folder("roberta-embedder"))
        for (text, ids) in zip(reference.texts, reference.token_ids) {
            XCTAssertEqual(embedder.tokenizer.encode(text), ids, text.debugDescription)
        }
        let vectors = try embedder.embed(reference.texts)
        for (i, (got, want)) in zip(vectors, reference.embeddings).enumerated() {
            XCTAssertGreaterThanOrEqual(cosineSimilarity(got, want), 0.9999, reference.texts[i].debugDescription)
            XCTAssertLessThan(zip(got, want).map { abs($0 - $1) }.max() ?? .infinity, 1e-6, reference.texts[i].debugDescription)
        }
    }

    /// RoBERTa's pair template, cut by longest_first at the tokenizer's model_max_length, and
    /// CrossEncoder.predict's scores and ranking.
    func testReranker_matchesCrossEncoderPredict() throws {
        let reference = Self.reference.reranker
        let model = try CrossEncoder(path: Self.folder("roberta-reranker"))
        let pairs = reference.pairs.map { model.tokenizer.encodePair($0[0], $0[1]) }
        for (i, pair) in pairs.enumerated() {
            XCTAssertEqual(pair.ids, reference.token_ids[i], "pair \(i)")
            XCTAssertEqual(pair.typeIDs, Array(repeating: 0, count: pair.ids.count))
        }
        XCTAssertTrue(reference.token_ids.contains { $0.count == reference.max_length }, "the reference has a cut pair")
        for (i, (got, want)) in zip(try model.scores(pairs: pairs), reference.scores).enumerated() {
            XCTAssertEqual(got, want, accuracy: 1e-6, "pair \(i)")
        }
        let ranked = try model.rank(query: Self.reference.query, documents: Self.reference.documents)
        XCTAssertEqual(ranked.map(\.index), reference.rank.map(\.corpus_id))
    }

    /// .qkv, HDF5 and the Hugging Face folder written back keep the template and the length: the same scores.
    func testConvertedReranker_givesTheSameScores() throws {
        let dir = try scratch()
        let source = Self.folder("roberta-reranker")
        let original = try CrossEncoder(path: source).scores(query: Self.reference.query, documents: Self.reference.documents)
        try Converter.convert(input: source, output: "\(dir)/r.qkv", format: .qkv)
        try Converter.convert(input: "\(dir)/r.qkv", output: "\(dir)/r.h5", format: .hdf5)
        try Converter.convert(input: "\(dir)/r.h5", output: "\(dir)/back/", format: .safetensors)
        for path in ["\(dir)/r.qkv", "\(dir)/r.h5", "\(dir)/back/"] {
            XCTAssertEqual(try CrossEncoder(path: path).scores(query: Self.reference.query, documents: Self.reference.documents), original, path)
        }
    }

    /// A cross-encoder whose byte-level BPE has no pair template (its post-processor removed) is refused,
    /// naming the tokenizer kind, rather than scored with a guessed template.
    func testByteLevelBPEWithoutAPairTemplate_isAClearError() throws {
        let dir = try scratch()
        let source = Self.folder("roberta-reranker")
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(dir)/\(name)")
        }
        let path = "\(dir)/tokenizer.json"
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        json["post_processor"] = NSNull()
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CrossEncoder(path: dir)) { error in
            XCTAssertEqual(error as? InferenceError, .noPairTemplate(file: dir, kind: "bpe"))
        }
    }

    /// `tokenizer.pair_template` needs the BOS and EOS it writes.
    func testPairTemplateWithoutBOS_isAnError() throws {
        let model = try ModelFile(try openWeightFile(path: Self.folder("roberta-reranker")))
        var data = try XCTUnwrap(model.tokenizer)
        XCTAssertEqual(data.options["tokenizer.pair_template"], .string("roberta"))
        data.options["tokenizer.add_bos"] = .bool(false)
        XCTAssertThrowsError(try ByteLevelBPETokenizer(data: data, config: model.config)) { error in
            guard case .invalidOption("tokenizer.pair_template", _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
        }
    }
}
