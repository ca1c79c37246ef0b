import Foundation
import XCTest
import QKVFormat
import QKVInference
import QKVTokenizers
@testable import QKVVisualize

/// Every renderer on a real forward pass: the tiny GPT-2 fixture's attention on a short text.
///
/// The outputs are also written to `$QKV_ATTENTION_OUT` (default `<tmp>/qkv-attention`) as
/// attention.html, head.svg, grid.svg, head.png, grid.png, attention.json and probabilities.npy, so
/// they can be looked at, and so tools/tests/test_attention_html.py has a page to load until the
/// `qkv attention` command writes one.
final class FixtureRenderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var outputDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["QKV_ATTENTION_OUT"] { return URL(fileURLWithPath: dir) }
        return FileManager.default.temporaryDirectory.appendingPathComponent("qkv-attention")
    }

    /// The report as `qkv attention` builds it: tokens from the model's tokenizer, profiles from the
    /// record, weight norms from the file summary.
    func gpt2Report() throws -> AttentionReport {
        let path = Self.root.appendingPathComponent("Fixtures/hf/gpt2-tiny").path
        let file = try ModelFile(try openWeightFile(path: path))
        let model = try DecoderModel(file)
        let tokenizer = try makeTokenizer(data: try XCTUnwrap(file.tokenizer), config: file.config)
        var ids = tokenizer.encode("the cat sat on the mat. </script><b>&\"'", addSpecialTokens: false)
        if ids.isEmpty { ids = [1, 2, 3] }
        let record = try model.attention(ids)
        let summary = try ModelSummary(file: file.file, fileBytes: 0, includeTensors: false, includeHeads: true)
        return AttentionReport(modelPath: path, config: file.config, tokenIDs: ids, tokens: ids.map { tokenizer.decode([$0]) }, record: record,
                               profiles: record.headProfiles(), weights: summary.heads ?? [])
    }

    func testGPT2Fixture_rendersEverything() throws {
        let report = try gpt2Report()
        let r = report.record
        XCTAssertEqual(r.layerCount, 2)
        XCTAssertEqual(r.headCount, 4)
        XCTAssertEqual(report.weights.count, 8)

        let table = AttentionTerminal.heads(report, order: .update)
        XCTAssertEqual(table.split(separator: "\n").count, 4 + r.layerCount + 8)
        let head = AttentionTerminal.head(report, layer: 1, head: 2, width: 100)
        XCTAssertEqual(head.split(separator: "\n").count, 4 + r.tokenCount)

        let html = AttentionHTML.page(report)
        let data = try XCTUnwrap(DocumentTests.embeddedData(html))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(data.utf8)))

        let headSVG = AttentionSVG.head(report, layer: 1, head: 2), gridSVG = AttentionSVG.grid(report)
        XCTAssertEqual(try ElementCounter.parse(headSVG).counts["rect.cell"], r.tokenCount * r.tokenCount)
        XCTAssertEqual(try ElementCounter.parse(gridSVG).counts["g.thumb"], 8)

        let headPNG = AttentionPNG.head(report, layer: 1, head: 2), gridPNG = AttentionPNG.grid(report)
        XCTAssertEqual(try DecodedPNG(headPNG).width, AttentionFigures.headLayout(report).width * 2)
        // Causal: the first token attends only to itself, in every head.
        let grid = try DecodedPNG(gridPNG), g = AttentionFigures.gridLayout(report)
        let (x, y) = g.position(layer: 0, head: 0)
        XCTAssertEqual(grid.pixel((x + g.cell / 2) * 2, (y + g.cell / 2) * 2), RGB(8, 48, 107))

        let json = AttentionJSON.encode(report)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual((object["heads"] as? [Any])?.count, 8)
        let npy = AttentionNPY.probabilities(report)
        XCTAssertGreaterThan(npy.count, 4 * r.probabilities.count)

        let out = Self.outputDirectory
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let files: [(String, Data)] = [
            ("attention.html", Data(html.utf8)), ("head.svg", Data(headSVG.utf8)), ("grid.svg", Data(gridSVG.utf8)),
            ("head.png", headPNG), ("grid.png", gridPNG), ("attention.json", Data(json.utf8)), ("probabilities.npy", npy),
            ("heads.txt", Data((table + "\n" + head).utf8)),
        ]
        for (name, bytes) in files { try bytes.write(to: out.appendingPathComponent(name)) }
    }
}
