import Foundation
import XCTest
@testable import QKVTemplates

/// Building the context from Swift and from JSON.
final class ValueTests: XCTestCase {
    func testInitAny_fromSwiftValues() throws {
        let value = TemplateValue(any: ["role": "user", "n": 3, "x": 1.5, "ok": true, "none": nil, "list": [1, "a"]] as [String: Any?])
        XCTAssertEqual(try Template("{{ v|tojson }}").render(["v": value]),
                       #"{"list": [1, "a"], "n": 3, "none": null, "ok": true, "role": "user", "x": 1.5}"#)
    }

    func testInitJSON_keepsKeyOrderAndIntegers() throws {
        let value = try TemplateValue(json: #"{"z": 1, "a": [1.0, 2, "\u00e9\ud83e\udd99"], "m": null}"#)
        XCTAssertEqual(try Template("{{ v|tojson }}").render(["v": value]), #"{"z": 1, "a": [1.0, 2, "é🦙"], "m": null}"#)
    }

    func testInitJSON_numbersAsPythonReadsThem() throws {
        // Whole numbers that fit an Int are ints; fractions, exponents, larger ints and overflow are floats.
        let value = try TemplateValue(json: #"[1, -0, 1.0, 1e2, 123456789012345678901234567890, 1e400]"#)
        XCTAssertEqual(try Template("{{ v|tojson }}").render(["v": value]), "[1, 0, 1.0, 100.0, 1.2345678901234568e+29, Infinity]")
    }

    func testInitJSON_repeatedKeyKeepsItsFirstPlaceAndLastValue() throws {
        let value = try TemplateValue(json: #"{"a": 1, "b": 2, "a": 3}"#)
        XCTAssertEqual(try Template("{{ v|tojson }}").render(["v": value]), #"{"a": 3, "b": 2}"#)
    }

    func testRenderChat_passesToolsAndDocumentsAsNone() throws {
        let template = try Template("{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ messages|length }} {{ bos_token }}")
        XCTAssertEqual(try template.renderChat(messages: [["role": "user", "content": "hi"]], extra: ["bos_token": "<s>"]), "True True False 1 <s>")
    }

    func testTemplate_isReusableAcrossThreads() throws {
        let template = try Template("{% for m in messages %}{{ m.content }}{% endfor %}")
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            XCTAssertEqual(try? template.renderChat(messages: [["role": "user", "content": .string("t\(i)")]]), "t\(i)")
        }
    }
}
