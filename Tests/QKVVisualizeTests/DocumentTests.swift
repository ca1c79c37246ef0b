import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import QKVInference
@testable import QKVVisualize

/// Counts elements of an XML document, and fails on any parse error.
final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var texts: [String] = []

    static func parse(_ text: String) throws -> ElementCounter {
        let counter = ElementCounter()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = counter
        guard parser.parse() else { throw parser.parserError ?? DecodedPNG.Failure("XML parse failed") }
        return counter
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
        if let kind = attributes["class"] { counts[name + "." + kind, default: 0] += 1 }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }
}

final class DocumentTests: XCTestCase {
    // MARK: SVG

    func testSVGHead_isWellFormedWithEveryCell() throws {
        let svg = AttentionSVG.head(SyntheticReport.make(), layer: 0, head: 0)
        let xml = try ElementCounter.parse(svg)
        XCTAssertEqual(xml.counts["svg"], 1)
        XCTAssertEqual(xml.counts["rect.cell"], 9)
        XCTAssertEqual(xml.counts["rect.update"], 3)
        XCTAssertTrue(xml.texts.joined().contains(SyntheticReport.hostileToken))
        XCTAssertTrue(svg.contains("&lt;/script&gt;&lt;b&gt;&amp;&quot;&#39;"))
    }

    func testSVGGrid_hasOneThumbnailPerHeadAndOnlyColouredCells() throws {
        let xml = try ElementCounter.parse(AttentionSVG.grid(SyntheticReport.make()))
        XCTAssertEqual(xml.counts["g.thumb"], 4)
        // Non-white cells: 3 (previous) + 3 (sink) + 9 (uniform) + 3 (self).
        XCTAssertEqual(xml.counts["rect.cell"], 18)
    }

    // MARK: HTML

    func testHTML_hasTheElementsAndEscapedData() throws {
        let page = AttentionHTML.page(SyntheticReport.make())
        for id in ["summary", "tokens", "grid", "zoom", "zoom-title", "zoom-matrix", "zoom-lines", "zoom-profile", "profiles", "weights", "qkv-data"] {
            XCTAssertTrue(page.contains("id=\"\(id)\""), id)
        }
        XCTAssertFalse(page.contains("http://") && page.contains("src=\"http"), "no external resources")
        XCTAssertFalse(page.contains("<link"))
        // The only script ends are the page's own two.
        XCTAssertEqual(page.components(separatedBy: "</script>").count - 1, 2)
        XCTAssertFalse(page.contains("<b>&"))
        let json = try XCTUnwrap(Self.embeddedData(page))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(object["tokens"] as? [String], ["[CLS]", SyntheticReport.hostileToken, "[SEP]"])
        let heads = try XCTUnwrap(object["heads"] as? [[String: Any]])
        XCTAssertEqual(heads.count, 4)
        XCTAssertEqual((heads[2]["probabilities"] as? [[Double]])?[0][0], 0.3333)
    }

    /// The text of `<script type="application/json" id="qkv-data">`.
    static func embeddedData(_ page: String) -> String? {
        guard let start = page.range(of: "id=\"qkv-data\">"), let end = page.range(of: "</script>", range: start.upperBound..<page.endIndex)
        else { return nil }
        return String(page[start.upperBound..<end.lowerBound])
    }

    // MARK: JSON and NPY

    func testJSON_roundTripsThroughJSONSerialization() throws {
        let report = SyntheticReport.make()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(AttentionJSON.encode(report).utf8)) as? [String: Any])
        XCTAssertEqual(object["ids"] as? [Int], [101, 7, 102])
        XCTAssertEqual(object["tokens"] as? [String], report.tokens)
        let config = try XCTUnwrap(object["config"] as? [String: Any])
        XCTAssertEqual(config["layers"] as? Int, 2)
        XCTAssertEqual(config["causal"] as? Bool, false)
        let heads = try XCTUnwrap(object["heads"] as? [[String: Any]])
        XCTAssertEqual(heads.map { $0["role"] as? String }, ["previous token", "first token (sink)", "broad", "self"])
        let uniform = try XCTUnwrap(heads[2]["probabilities"] as? [[Double]])
        XCTAssertEqual(Float(uniform[1][2]), Float(1.0 / 3))
        XCTAssertEqual(heads[0]["updates"] as? [Double], [1, 2, 3])
        let weights = try XCTUnwrap(heads[3]["weights"] as? [String: Double])
        XCTAssertEqual(weights, ["query": 2, "key": 2, "value": 4, "output": 0.5])
        XCTAssertEqual(heads[1]["relative_update"] as? Double, 0.4)
    }

    func testJSON_withoutWeightsHasNull() throws {
        let text = AttentionJSON.encode(SyntheticReport.make(withWeights: false))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let heads = try XCTUnwrap(object["heads"] as? [[String: Any]])
        XCTAssertTrue(heads[0]["weights"] is NSNull)
    }

    func testNPY_probabilitiesHeaderAndValues() throws {
        let npy = AttentionNPY.probabilities(SyntheticReport.make())
        XCTAssertEqual(Array(npy.prefix(8)), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        let header = String(decoding: npy[10..<10 + headerLength], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3, 3), }"))
        XCTAssertTrue(header.hasSuffix("\n"))
        let floats = npy.dropFirst(10 + headerLength).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(floats, SyntheticReport.make().record.probabilities)
        let updates = AttentionNPY.updateNorms(SyntheticReport.make())
        XCTAssertEqual(updates.count % 64, (2 * 2 * 3 * 4) % 64)
    }

    // MARK: Edge cases

    func testEveryRenderer_acceptsAnEmptyText() throws {
        let record = AttentionRecord(layerCount: 1, headCount: 2, tokenCount: 0, isCausal: true)
        let report = AttentionReport(modelPath: "empty", config: SyntheticReport.make().config, tokenIDs: [], tokens: [], record: record,
                                     profiles: record.headProfiles(), weights: [])
        XCTAssertFalse(AttentionTerminal.heads(report).isEmpty)
        XCTAssertFalse(AttentionTerminal.head(report, layer: 0, head: 1).isEmpty)
        XCTAssertEqual(try ElementCounter.parse(AttentionSVG.head(report, layer: 0, head: 0)).counts["rect.cell"] ?? 0, 0)
        XCTAssertEqual(try ElementCounter.parse(AttentionSVG.grid(report)).counts["g.thumb"], 2)
        XCTAssertGreaterThan(try DecodedPNG(AttentionPNG.head(report, layer: 0, head: 0)).width, 0)
        XCTAssertGreaterThan(try DecodedPNG(AttentionPNG.grid(report)).width, 0)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(AttentionJSON.encode(report).utf8)))
        XCTAssertNotNil(DocumentTests.embeddedData(AttentionHTML.page(report)))
    }
}
