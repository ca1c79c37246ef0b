import Foundation
import XCTest
@testable import QKVTemplates

/// One test per error case: the exact `TemplateError`, naming the part at fault. Templates from model
/// files are untrusted, so each limit must stop a render with an error, never a crash or a hang.
final class ErrorTests: XCTestCase {
    func assertThrows(_ expected: TemplateError, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
        } catch let error as TemplateError {
            XCTAssertEqual(error, expected, file: file, line: line)
        } catch {
            XCTFail("expected \(expected), got \(error)", file: file, line: line)
        }
    }

    func render(_ source: String, _ context: [String: TemplateValue] = [:], limits: TemplateLimits = TemplateLimits()) throws {
        _ = try Template(source, limits: limits).render(context)
    }

    // MARK: Syntax

    func testSyntax_namesLineAndColumn() {
        assertThrows(.syntax(line: 3, column: 8, message: "unexpected '}}'")) { try render("ok\n\n{{ 1 + }}") }
    }

    func testSyntax_unclosedBlockNamesWhatIsMissing() {
        assertThrows(.syntax(line: 3, column: 7, message: "unexpected end of template, expected one of 'elif', 'else', 'endif'")) {
            try render("line one\n{% if true %}\nno end")
        }
    }

    func testSyntax_unknownTag() {
        assertThrows(.syntax(line: 2, column: 4, message: "unknown tag 'frobnicate'")) { try render("a\n{% frobnicate %}") }
    }

    func testSyntax_unterminatedString() {
        assertThrows(.syntax(line: 2, column: 4, message: "unterminated string literal")) { try render("\n{{ 'abc }}") }
    }

    func testSyntax_unclosedComment() {
        assertThrows(.syntax(line: 1, column: 2, message: "missing end of comment tag")) { try render("x{# never closed") }
    }

    func testSyntax_unbalancedBracket() {
        assertThrows(.syntax(line: 1, column: 7, message: "unexpected ')', expected ']'")) { try render("{{ [1 ) }}") }
    }

    // MARK: Unknown names

    func testUnknownFilter_isNamed() {
        assertThrows(.unknownFilter(name: "frobnicate", line: 2)) { try render("a\n{{ 'x' | frobnicate }}") }
    }

    func testUnknownTest_isNamed() {
        assertThrows(.unknownTest(name: "frobnicated", line: 1)) { try render("{{ 'x' is frobnicated }}") }
    }

    func testUnknownMethod_isNamed() {
        assertThrows(.unknownMethod(type: "str", name: "zfill", line: 1)) { try render("{{ 'x'.zfill(3) }}") }
    }

    func testMutatingMethod_isRefusedAsInTheSandbox() {
        assertThrows(.unknownMethod(type: "list", name: "append", line: 1)) { try render("{% set l = [] %}{{ l.append(1) }}") }
    }

    // MARK: Runtime errors

    func testRaiseException_carriesTheMessage() {
        assertThrows(.raised(message: "System role not supported")) { try render("{{ raise_exception('System role not supported') }}") }
    }

    func testUndefinedAttribute_namesTheMissingName() {
        assertThrows(.undefined(message: "'missing' is undefined", line: 2)) { try render("\n{{ missing.attr }}") }
    }

    func testTypeError_namesTheTypes() {
        assertThrows(.type(message: "unsupported operand type(s) for +: 'str' and 'int'", line: 1)) { try render("{{ 'a' + 1 }}") }
    }

    func testSetAttribute_onNonNamespace() {
        assertThrows(.type(message: "cannot assign attribute on non-namespace object", line: 1)) { try render("{% set d = {} %}{% set d.x = 1 %}") }
    }

    func testInvalidJSON_namesTheOffset() {
        assertThrows(.invalidJSON(offset: 7, reason: "expected ',' or '}'")) { _ = try TemplateValue(json: "{\"a\":1 x}") }
    }

    // JSON reaches a template through `TemplateValue(json:)` (tool definitions, a message's tool-call
    // arguments), read by the schema's strict parser: each way a text is not JSON is refused at its byte.

    func testInvalidJSON_offsetCountsUTF8Bytes() {
        // "é" is two bytes: the `x` after `1 ` sits at byte 8, scalar 7.
        assertThrows(.invalidJSON(offset: 8, reason: "expected ',' or '}'")) { _ = try TemplateValue(json: "{\"é\":1 x}") }
    }

    func testInvalidJSON_emptyText() {
        assertThrows(.invalidJSON(offset: 2, reason: "unexpected end of text")) { _ = try TemplateValue(json: "  ") }
    }

    func testInvalidJSON_textAfterTheValue() {
        assertThrows(.invalidJSON(offset: 3, reason: "unexpected text after the JSON value")) { _ = try TemplateValue(json: "{} {}") }
    }

    func testInvalidJSON_trailingCommaInAnObject() {
        assertThrows(.invalidJSON(offset: 8, reason: "expected a string key")) { _ = try TemplateValue(json: #"{"a": 1,}"#) }
    }

    func testInvalidJSON_trailingCommaInAList() {
        assertThrows(.invalidJSON(offset: 3, reason: "unexpected character")) { _ = try TemplateValue(json: "[1,]") }
    }

    func testInvalidJSON_unclosedList() {
        assertThrows(.invalidJSON(offset: 2, reason: "unexpected end of text in an array")) { _ = try TemplateValue(json: "[1") }
    }

    func testInvalidJSON_singleQuotedKey() {
        assertThrows(.invalidJSON(offset: 1, reason: "expected a string key")) { _ = try TemplateValue(json: "{'a': 1}") }
    }

    func testInvalidJSON_NaNAndInfinityAreRefused() {
        assertThrows(.invalidJSON(offset: 6, reason: "unexpected character")) { _ = try TemplateValue(json: #"{"x": NaN}"#) }
        assertThrows(.invalidJSON(offset: 7, reason: "expected digits")) { _ = try TemplateValue(json: #"{"x": -Infinity}"#) }
    }

    func testInvalidJSON_leadingZero() {
        assertThrows(.invalidJSON(offset: 3, reason: "leading zero in a number")) { _ = try TemplateValue(json: "[01]") }
    }

    func testInvalidJSON_fractionWithoutDigits() {
        assertThrows(.invalidJSON(offset: 3, reason: "expected digits after '.'")) { _ = try TemplateValue(json: "[1.]") }
    }

    func testInvalidJSON_misspelledLiteral() {
        assertThrows(.invalidJSON(offset: 4, reason: "expected 'true'")) { _ = try TemplateValue(json: "[tru]") }
    }

    func testInvalidJSON_controlCharacterInAString() {
        assertThrows(.invalidJSON(offset: 3, reason: "control character in a string")) { _ = try TemplateValue(json: "[\"a\nb\"]") }
    }

    func testInvalidJSON_unterminatedString() {
        assertThrows(.invalidJSON(offset: 4, reason: "unterminated string")) { _ = try TemplateValue(json: #"["ab"#) }
    }

    func testInvalidJSON_unknownEscape() {
        assertThrows(.invalidJSON(offset: 4, reason: "unknown escape")) { _ = try TemplateValue(json: #"["\x"]"#) }
    }

    func testInvalidJSON_badHexInAUnicodeEscape() {
        assertThrows(.invalidJSON(offset: 6, reason: "bad hex digit in \\u escape")) { _ = try TemplateValue(json: #"["\u00g0"]"#) }
    }

    func testInvalidJSON_unpairedSurrogate() {
        assertThrows(.invalidJSON(offset: 8, reason: "unpaired surrogate")) { _ = try TemplateValue(json: #"["\ud83e"]"#) }
        assertThrows(.invalidJSON(offset: 8, reason: "unpaired surrogate")) { _ = try TemplateValue(json: #"["\udd99"]"#) }
    }

    func testInvalidJSON_nestedDeeperThanTheBound() throws {
        let bound = TemplateValue.maxJSONDepth
        _ = try TemplateValue(json: String(repeating: "[", count: bound) + String(repeating: "]", count: bound))
        let deeper = String(repeating: "[", count: bound + 1) + String(repeating: "]", count: bound + 1)
        assertThrows(.invalidJSON(offset: bound, reason: "nested more than \(bound) levels")) { _ = try TemplateValue(json: deeper) }
    }

    func testInvalidJSON_describesOffsetAndReason() {
        XCTAssertEqual(TemplateError.invalidJSON(offset: 3, reason: "unexpected character").description,
                       "invalid JSON at offset 3: unexpected character")
    }

    // MARK: Limits

    func testLimit_loopIterationsOverTheWholeRender() {
        var limits = TemplateLimits()
        limits.maxLoopIterations = 1000
        // 40 x 40 = 1600 iterations of the inner loop, each loop under the limit on its own.
        assertThrows(.limitExceeded(limit: "loop iterations", value: 1000)) {
            try render("{% for i in range(40) %}{% for j in range(40) %}.{% endfor %}{% endfor %}", limits: limits)
        }
    }

    func testLimit_macroRecursion() {
        assertThrows(.limitExceeded(limit: "macro call depth", value: 64)) {
            try render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        }
    }

    func testLimit_outputSize() {
        var limits = TemplateLimits()
        limits.maxOutputBytes = 10_000
        assertThrows(.limitExceeded(limit: "output size in bytes", value: 10_000)) {
            try render("{% for i in range(3000) %}hello{% endfor %}", limits: limits)
        }
    }

    func testLimit_stringsBuiltByDoubling() {
        var limits = TemplateLimits()
        limits.maxOutputBytes = 1 << 20
        assertThrows(.limitExceeded(limit: "output size in bytes", value: 1 << 20)) {
            try render("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", limits: limits)
        }
        assertThrows(.limitExceeded(limit: "output size in bytes", value: 1 << 20)) { try render("{{ 'ab' * 100000000000 }}", limits: limits) }
    }

    func testLimit_range() {
        assertThrows(.limitExceeded(limit: "range size", value: 100_000)) { try render("{{ range(1000000000)|length }}") }
    }

    func testLimit_nestingWhenParsing() {
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        assertThrows(.limitExceeded(limit: "nesting depth", value: 64)) { try render("{{ \(deep) }}") }
        let blocks = String(repeating: "{% if true %}", count: 200) + String(repeating: "{% endif %}", count: 200)
        assertThrows(.limitExceeded(limit: "nesting depth", value: 64)) { try render(blocks) }
    }

    func testLimit_integerOverflowIsAnError() {
        assertThrows(.type(message: "integer overflow in **", line: 1)) { try render("{{ 10 ** 100 }}") }
    }
}
