import Foundation
import XCTest

/// `qkv rerank` as a user runs it: the order and scores sentence-transformers' CrossEncoder gives
/// (Fixtures/reference/xlmr.json), the table and JSON forms, and exit codes for bad input.
extension CommandTests {
    /// The reference query, documents and one reranker's `rank` (corpus ids and scores, best first).
    func rerankReference(_ name: String) throws -> (query: String, documents: [String], rank: [(Int, Double)]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("reference/xlmr.json")))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let reranker = try XCTUnwrap((json["rerankers"] as? [String: Any])?[name] as? [String: Any])
        let rank = try XCTUnwrap(reranker["rank"] as? [[String: Any]]).map { ($0["corpus_id"] as! Int, ($0["score"] as! NSNumber).doubleValue) }
        return (json["query"] as! String, json["documents"] as! [String], rank)
    }

    func testRerank_jsonIsCrossEncodersRanking() throws {
        for name in ["xlmr-reranker", "bert-reranker"] {
            let reference = try rerankReference(name)
            let r = try qkv(["rerank", fixture("xlmr/\(name)"), "--query", reference.query, "--json", "--quiet"] + reference.documents, environment: nil)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stderr, "")
            let printed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let results = try XCTUnwrap(printed["results"] as? [[String: Any]])
            XCTAssertEqual(results.map { $0["index"] as? Int }, reference.rank.map(\.0), name)
            for (result, (index, score)) in zip(results, reference.rank) {
                XCTAssertEqual((result["relevance_score"] as? NSNumber)?.doubleValue ?? .nan, score, accuracy: 1e-6, name)
                XCTAssertEqual(result["document"] as? String, reference.documents[index])
            }
        }
    }

    func testRerank_tableFromAFileWithTopN() throws {
        let reference = try rerankReference("xlmr-reranker")
        let dir = try scratch()
        try (reference.documents.joined(separator: "\n") + "\n").write(toFile: "\(dir)/docs.txt", atomically: true, encoding: .utf8)
        let r = try qkv("rerank", fixture("xlmr/xlmr-reranker"), "--query", reference.query, "--file", "\(dir)/docs.txt", "--top-n", "2", "--quiet")
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = reference.rank.prefix(2).enumerated().map { rank, item in
            "\(rank + 1)\t\(item.0)\t\(String(format: "%.6f", item.1))\t\(reference.documents[item.0])\n"
        }.joined()
        XCTAssertEqual(r.stdout, expected)
    }

    func testRerank_refusesAModelWithoutAHead() throws {
        let r = try qkv("rerank", fixture("xlmr/e5-small-shaped"), "--query", "q", "a document")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("has no classification head"), r.stderr)
    }

    func testInspect_showsThePositionOffsetAndTheHead() throws {
        let r = try qkv("inspect", fixture("xlmr/xlmr-reranker"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("xlm-roberta (bert family)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("learned (from row 2) positions, classification head of 1 label (sigmoid)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("tokenizer     unigram, 338 tokens"), r.stdout)
    }

    func testRerank_usageErrors() throws {
        let noDocuments = try qkv("rerank", fixture("xlmr/xlmr-reranker"), "--query", "q")
        XCTAssertEqual(noDocuments.status, 2)
        XCTAssertTrue(noDocuments.stderr.contains("give documents as arguments or --file"), noDocuments.stderr)
        let noQuery = try qkv("rerank", fixture("xlmr/xlmr-reranker"), "a document")
        XCTAssertEqual(noQuery.status, 2)
        XCTAssertTrue(noQuery.stderr.contains("--query"), noQuery.stderr)
        let badTop = try qkv("rerank", fixture("xlmr/xlmr-reranker"), "--query", "q", "d", "--top-n", "0")
        XCTAssertEqual(badTop.status, 2)
        XCTAssertTrue(badTop.stderr.contains("--top-n must be at least 1"), badTop.stderr)
    }
}
