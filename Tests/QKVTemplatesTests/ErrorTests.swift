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
