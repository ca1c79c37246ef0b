import Foundation
import XCTest
@testable import QKVTemplates

/// Where the fixtures and the shared chat templates are.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> String { root.appendingPathComponent("Fixtures/\(name)").path }

    /// `../shared/data` beside the repository (or `$QKV_SHARED_DATA`), which holds `chat-templates/`.
    static var sharedData: String {
        ProcessInfo.processInfo.environment["QKV_SHARED_DATA"] ?? root.deletingLastPathComponent().appendingPathComponent("shared/data").path
    }
}

/// A fixture written by tools/make_template_references.py, read with the order of its keys kept (the
/// order of a dict is what `tojson` and `items` show).
func loadFixture(_ name: String) throws -> TemplateValue {
    let text = try String(contentsOfFile: Paths.fixture("templates/\(name)"), encoding: .utf8)
    return try TemplateValue(json: text)
}

extension TemplateValue {
    subscript(_ key: String) -> TemplateValue? {
        if case .dict(let d) = self { return d[key] }
        return nil
    }
    var arrayValue: [TemplateValue] { if case .array(let a) = self { return a } else { return [] } }
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    var dictValue: TemplateDict? { if case .dict(let d) = self { return d } else { return nil } }
}

/// The fixture's `now` ("2024-07-26T14:05:09", a local time as Python's naive datetime) as a Date.
func fixtureNow(_ fixture: TemplateValue) throws -> Date {
    let text = try XCTUnwrap(fixture["now"]?.stringValue)
    let parts = text.split(whereSeparator: { "-T:".contains($0) }).map { Int($0)! }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone.current
    let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])
    return try XCTUnwrap(calendar.date(from: components))
}

/// Checks a render against what jinja2 gave: the same text, the same `raise_exception` message, or an
/// error where jinja2 raised one (for a syntax error, on the same line).
func assertOutcome(_ expected: TemplateValue, _ label: String, file: StaticString = #filePath, line: UInt = #line, _ render: () throws -> String) {
    do {
        let output = try render()
        if let text = expected["output"]?.stringValue {
            if output != text { XCTFail("\(label): output differs\n--- jinja2:\n\(text)\n--- qkv:\n\(output)", file: file, line: line) }
        } else {
            XCTFail("\(label): jinja2 failed (\(expected["raised"]?.stringValue ?? expected["error"]?.stringValue ?? "?")), qkv rendered \(output.debugDescription)", file: file, line: line)
        }
    } catch let error as TemplateError {
        if let message = expected["raised"]?.stringValue {
            XCTAssertEqual(error, .raised(message: message), label, file: file, line: line)
        } else if let kind = expected["error"]?.stringValue {
            if case .raised = error { XCTFail("\(label): jinja2 gave \(kind), qkv raised \(error)", file: file, line: line) }
            if kind == "TemplateSyntaxError", let expectedLine = expected["line"]?.intValue {
                switch error {
                case .syntax(let l, _, _), .unknownFilter(_, let l), .unknownTest(_, let l):
                    XCTAssertEqual(l, expectedLine, "\(label): \(error)", file: file, line: line)
                default: XCTFail("\(label): jinja2 gave a syntax error, qkv \(error)", file: file, line: line)
                }
            }
        } else {
            XCTFail("\(label): jinja2 rendered, qkv threw \(error)", file: file, line: line)
        }
    } catch {
        XCTFail("\(label): unexpected error \(error)", file: file, line: line)
    }
}
