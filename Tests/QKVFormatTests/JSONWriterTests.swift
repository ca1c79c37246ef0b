import XCTest
@testable import QKVFormat

/// The project's JSON writer (QKVSchema's `JSONText` and `JSONValue.text`/`prettyText`): golden text for
/// each escaping and layout, and a parse of what it writes.
final class JSONWriterTests: XCTestCase {
    func testString_escapesWhatJSONRequires() {
        XCTAssertEqual(JSONText.string("a\"b\\c\nd\re\tf\u{1}g/<>&"), #""a\"b\\c\nd\re\tf\u0001g/<>&""#)
    }

    func testString_htmlEscapingHidesScriptTags() {
        XCTAssertEqual(JSONText.string("</script>&\u{2028}", escaping: .html), #""\u003c/script\u003e\u0026\u2028""#)
    }

    func testString_slashEscapingIsFoundations() {
        XCTAssertEqual(JSONText.string("/a/b", escaping: .slashes), #""\/a\/b""#)
    }

    func testNumber_shortestRoundTripAndNullForNonFinite() {
        XCTAssertEqual(JSONText.number(0.1 as Double), "0.1")
        XCTAssertEqual(JSONText.number(8.0 as Double), "8.0")
        XCTAssertEqual(JSONText.number(1e-6 as Double), "1e-06")
        XCTAssertEqual(JSONText.number(Float(0.1)), "0.1")
        XCTAssertEqual(JSONText.number(Double.nan), "null")
        XCTAssertEqual(JSONText.number(-Float.infinity), "null")
    }

    func testPrettyText_isFoundationsLayout() {
        let value = JSONValue.object([("a", .array([])), ("b", .object([])), ("c", .ints([1, 2])), ("d", .string("x/y")), ("e", .null)])
        XCTAssertEqual(value.prettyText, """
            {
              "a" : [

              ],
              "b" : {

              },
              "c" : [
                1,
                2
              ],
              "d" : "x\\/y",
              "e" : null
            }
            """)
    }

    func testText_parsesBackToTheSameValue() throws {
        let value = JSONValue.object([("k\"", .array([.bool(true), .double(-2.5), .string("\u{7}é")])), ("n", .object([("", .null)]))])
        XCTAssertEqual(try JSONParser.parse(Array(value.text.utf8)), value)
        XCTAssertEqual(try JSONParser.parse(Array(value.prettyText.utf8)), value)
        XCTAssertEqual(try JSONParser.parse(Array(value.text(escaping: [.html, .slashes]).utf8)), value)
    }
}
