import XCTest
import QKVTemplates
@testable import QKVServer

/// Request bodies parsed once into `JSONValue` and read through the typed accessors: one test per way a
/// body or a field is refused, each asserting the 400's message and the field it names, and the error
/// answer's bytes as the one writer writes them.
final class RequestBodyTests: XCTestCase {
    func body(_ text: String) throws -> RequestBody { try RequestBody(Array(text.utf8)) }

    /// The refusal `work` throws, or a failure if it throws none.
    func refusal(_ work: () throws(APIError) -> Void, file: StaticString = #filePath, line: UInt = #line) -> APIError? {
        do {
            try work()
            XCTFail("nothing was refused", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.status, .badRequest, file: file, line: line)
            return error
        }
    }

    func assertRefused(_ bytes: [UInt8], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let error = refusal({ () throws(APIError) in _ = try RequestBody(bytes) }, file: file, line: line)
        XCTAssertEqual(error?.message, message, file: file, line: line)
        XCTAssertNil(error?.param, file: file, line: line)
    }

    func assertField(_ text: String, _ message: String, param: String, file: StaticString = #filePath, line: UInt = #line,
                     _ read: (RequestBody) throws(APIError) -> Void) throws {
        let parsed = try body(text)
        let error = refusal({ () throws(APIError) in try read(parsed) }, file: file, line: line)
        XCTAssertEqual(error?.message, message, file: file, line: line)
        XCTAssertEqual(error?.param, param, file: file, line: line)
    }

    // MARK: The body

    func testBody_emptyIsRefused() {
        assertRefused([], "The request body is empty; expected a JSON object")
    }

    func testBody_malformedJSONIsRefused() {
        assertRefused(Array("{not json".utf8), "The request body is not valid JSON")
        assertRefused(Array("{\"a\":1".utf8), "The request body is not valid JSON")
        assertRefused(Array("   ".utf8), "The request body is not valid JSON")
    }

    func testBody_trailingGarbageIsRefused() {
        assertRefused(Array("{\"a\":1} x".utf8), "The request body is not valid JSON")
        assertRefused(Array("{\"a\":1}{}".utf8), "The request body is not valid JSON")
        assertRefused(Array("{\"a\":1}".utf8) + [0], "The request body is not valid JSON")
    }

    func testBody_trailingCommaIsRefused() {
        assertRefused(Array("{\"a\":[1,]}".utf8), "The request body is not valid JSON")
        assertRefused(Array("{\"a\":1,}".utf8), "The request body is not valid JSON")
    }

    func testBody_otherThanAnObjectIsRefused() {
        for text in ["[1]", "\"x\"", "null", "5", "true"] {
            assertRefused(Array(text.utf8), "The request body must be a JSON object")
        }
    }

    func testBody_nestingPast512LevelsIsRefused() throws {
        let nested = { (levels: Int) in "{\"x\":" + String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1) + "}" }
        XCTAssertNoThrow(try body(nested(512)))
        assertRefused(Array(nested(513).utf8), "The request body is not valid JSON")
        assertRefused(Array(nested(100_000).utf8), "The request body is not valid JSON")
    }

    func testBody_invalidUTF8IsRefused() {
        assertRefused(Array("{\"x\":\"".utf8) + [0xFF] + Array("\"}".utf8), "The request body is not valid JSON")
        assertRefused(Array("{\"x\":\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"}".utf8), "The request body is not valid JSON")   // an encoded surrogate
        assertRefused(Array("{\"x\":1}".utf8) + [0xC0], "The request body is not valid JSON")
    }

    func testBody_badEscapesAreRefused() {
        for escape in [#"\q"#, #"\u12"#, #"\u12g4"#, #"\ud800"#, #"\udc00"#, #"\ud800\u0041"#] {
            assertRefused(Array("{\"x\":\"\(escape)\"}".utf8), "The request body is not valid JSON")
        }
        assertRefused(Array("{\"x\":\"a\u{1}b\"}".utf8), "The request body is not valid JSON")   // a raw control character
    }

    func testBody_escapesAreRead() throws {
        XCTAssertEqual(try body(#"{"x":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u0000"}"#).string("x"), "\"\\/\u{8}\u{C}\n\r\té😀\u{0}")
    }

    func testBody_NaNAndInfinityAreRefused() {
        for constant in ["NaN", "Infinity", "-Infinity"] {
            assertRefused(Array("{\"x\":\(constant)}".utf8), "The request body is not valid JSON")
        }
    }

    func testBody_UTF16AndUTF32AndAByteOrderMarkAreRead() throws {
        let text = #"{"content":"é😀"}"#
        let encodings: [[UInt8]] = [
            [0xEF, 0xBB, 0xBF] + Array(text.utf8),
            text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] },
            text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] },
            [0xFF, 0xFE] + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] },
            [0xFE, 0xFF] + text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] },
            text.unicodeScalars.flatMap { s in (0..<4).map { UInt8(truncatingIfNeeded: s.value >> (8 * $0)) } },
            text.unicodeScalars.flatMap { s in (0..<4).reversed().map { UInt8(truncatingIfNeeded: s.value >> (8 * $0)) } },
        ]
        for bytes in encodings {
            XCTAssertEqual(try RequestBody(bytes).string("content"), "é😀", "\(bytes.prefix(8))")
        }
    }

    func testBody_brokenUTF16IsRefused() {
        let units = Array(#"{"x":"#.utf16) + [0xD800] + Array(#""}"#.utf16)   // an unpaired surrogate
        assertRefused(units.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, "The request body is not valid JSON")
        assertRefused(Array(#"{"x":1}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + [0x20], "The request body is not valid JSON")  // odd length
    }

    func testBody_repeatedNameHasItsLastValue() throws {
        let parsed = try body(#"{"content":"a","model":"m","content":"b"}"#)
        XCTAssertEqual(try parsed.string("content"), "b")
        guard case .dict(let fields) = TemplateValue(parsed.json) else { return XCTFail("not a dict") }
        XCTAssertEqual(fields.keys, ["content", "model"])   // its first place, as a Python dict keeps it
        guard case .string(let content)? = fields["content"] else { return XCTFail("no content") }
        XCTAssertEqual(content, "b")
    }

    func testBody_nullFieldIsAbsent() throws {
        let parsed = try body(#"{"stream":null,"model":null}"#)
        XCTAssertFalse(parsed.has("stream"))
        XCTAssertNil(try parsed.bool("stream"))
        XCTAssertNil(try parsed.string("model"))
    }

    // MARK: Fields

    func testString_otherTypeNamesTheField() throws {
        try assertField(#"{"model":5}"#, "'model' must be a string", param: "model") { b throws(APIError) in _ = try b.string("model") }
        try assertField(#"{}"#, "'content' is required", param: "content") { b throws(APIError) in _ = try b.requiredString("content") }
    }

    func testBool_otherTypeNamesTheField() throws {
        for value in ["1", "\"true\"", "[]"] {
            try assertField("{\"stream\":\(value)}", "'stream' must be true or false", param: "stream") { b throws(APIError) in _ = try b.bool("stream") }
        }
    }

    func testInt_fractionOrOtherTypeOrOutOfRangeNamesTheField() throws {
        for value in ["5.5", "true", "\"5\"", "0", "1000001", "1e400", "[5]"] {
            try assertField("{\"max_tokens\":\(value)}", "'max_tokens' must be a whole number from 1 to 1000000", param: "max_tokens") { b throws(APIError) in
                _ = try b.int("max_tokens", in: 1...1_000_000)
            }
        }
    }

    func testInt_wholeNumbersInAnySpellingAreRead() throws {
        for value in ["5", "5.0", "5e0", "0.5e1", "500e-2"] {
            XCTAssertEqual(try body("{\"n\":\(value)}").int("n", in: 1...10), 5, value)
        }
        // An integer's digits are read exactly, not through a Double (which rounds 2^63 - 1 up, out of range).
        XCTAssertEqual(try body(#"{"seed":9223372036854775807}"#).int("seed", in: Int.min...Int.max), Int.max)
        XCTAssertEqual(try body(#"{"seed":9007199254740993}"#).int("seed", in: Int.min...Int.max), 9_007_199_254_740_993)
        XCTAssertEqual(try body(#"{"seed":-9223372036854775808}"#).int("seed", in: Int.min...Int.max), Int.min)
    }

    func testDouble_otherTypeOrOutOfRangeNamesTheField() throws {
        for value in ["\"1\"", "false", "2.5", "-0.1", "1e400"] {
            try assertField("{\"temperature\":\(value)}", "'temperature' must be a number from 0.0 to 2.0", param: "temperature") { b throws(APIError) in
                _ = try b.double("temperature", in: 0...2)
            }
        }
        XCTAssertEqual(try body(#"{"temperature":1}"#).double("temperature", in: 0...2), 1)
    }

    func testDocuments_wrongShapesNameTheField() throws {
        try assertField(#"{}"#, "'documents' is required", param: "documents") { b throws(APIError) in _ = try b.documents("documents") }
        for value in ["[]", "\"a\"", "{}"] {
            try assertField("{\"documents\":\(value)}", "'documents' must be a non-empty list of strings", param: "documents") { b throws(APIError) in
                _ = try b.documents("documents")
            }
        }
        for value in ["[5]", "[{\"text\":5}]", "[{\"body\":\"a\"}]"] {
            try assertField("{\"documents\":\(value)}", "'documents' must list strings or objects with a string 'text'", param: "documents") { b throws(APIError) in
                _ = try b.documents("documents")
            }
        }
        XCTAssertEqual(try body(#"{"documents":["a",{"text":"b"}]}"#).documents("documents"), ["a", "b"])
        XCTAssertEqual(try body(#"{"documents":[{"text":"a","text":"b"}]}"#).documents("documents"), ["b"])
    }

    func testTextsOrTokens_wrongShapesNameTheField() throws {
        let message = "'input' must be a string, a non-empty list of strings, a list of token ids or a list of such lists"
        try assertField(#"{}"#, "'input' is required", param: "input") { b throws(APIError) in _ = try b.textsOrTokens("input") }
        for value in ["[]", "5", "[true]", "[-1]", "[1.5]", "[[]]", "[[\"a\"]]", "[\"a\", null]"] {
            try assertField("{\"input\":\(value)}", message, param: "input") { b throws(APIError) in _ = try b.textsOrTokens("input") }
        }
        let read = try body(#"{"input":["a",[1,2.0]]}"#).textsOrTokens("input")
        guard read.count == 2, case .text("a") = read[0], case .tokens([1, 2]) = read[1] else { return XCTFail("\(read)") }
    }

    func testTokenIDs_wrongShapesNameTheField() throws {
        for value in ["{}", "{\"tokens\":\"1\"}", "{\"tokens\":[-1]}", "{\"tokens\":[true]}", "{\"tokens\":[1.5]}"] {
            try assertField(value, "'tokens' must be a list of token ids", param: "tokens") { b throws(APIError) in _ = try b.tokenIDs("tokens") }
        }
        XCTAssertEqual(try body(#"{"tokens":[0,1e1]}"#).tokenIDs("tokens"), [0, 10])
    }

    func testStopSequences_wrongShapesNameTheField() throws {
        for value in ["5", "[\"a\",null]", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "{}"] {
            try assertField("{\"stop\":\(value)}", "'stop' must be a string or a list of up to 4 strings", param: "stop") { b throws(APIError) in
                _ = try b.stopSequences()
            }
        }
        XCTAssertEqual(try body(#"{"stop":["a","","b"]}"#).stopSequences(), ["a", "b"])
        XCTAssertEqual(try body(#"{"stop":""}"#).stopSequences(), [])
    }

    // MARK: Template values and answers

    func testTemplateValue_integersAndFloatsAsPythonReadsThem() throws {
        guard case .dict(let fields) = TemplateValue(try body(#"{"a":1,"b":1.0,"c":1e2,"d":-0,"e":123456789012345678901234567890,"f":[null,true]}"#).json) else {
            return XCTFail("not a dict")
        }
        XCTAssertEqual(fields.keys, ["a", "b", "c", "d", "e", "f"])
        guard case .int(1)? = fields["a"], case .double(1)? = fields["b"], case .double(100)? = fields["c"], case .int(0)? = fields["d"],
              case .double(let big)? = fields["e"], case .array(let list)? = fields["f"], case .none = list[0], case .bool(true) = list[1] else {
            return XCTFail("\(fields.pairs)")
        }
        XCTAssertEqual(big, 1.2345678901234568e29)
    }

    /// An assistant message whose one tool call carries `arguments` as the string `text`.
    func assistantCall(_ text: String) -> TemplateValue {
        ["role": "assistant", "tool_calls": [["type": "function", "function": ["name": "get_weather", "arguments": .string(text)]]]]
    }

    func testMessageVariants_argumentsStringsAreParsedForTheTemplate() throws {
        let variants = Routes.messageVariants([assistantCall(#"{"city": "Paris", "days": 2}"#)], tools: nil, format: nil)
        XCTAssertEqual(variants.count, 2)
        XCTAssertEqual(try TemplateValue.array(variants[0]).compactJSON(),
                       #"[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":{"city":"Paris","days":2}}}]}]"#)
    }

    func testMessageVariants_malformedArgumentsStayTheStringSent() throws {
        // Not JSON to the strict parser (a missing value, a trailing comma, NaN): the template gets the text.
        for text in [#"{"city": }"#, #"{"city": "Paris",}"#, #"{"x": NaN}"#] {
            let message = assistantCall(text)
            let variants = Routes.messageVariants([message], tools: nil, format: nil)
            XCTAssertEqual(variants.count, 1, text)
            XCTAssertEqual(try TemplateValue.array(variants[0]).compactJSON(), try TemplateValue.array([message]).compactJSON(), text)
        }
    }

    func testErrorAnswer_isOpenAIsShapeInTheOneWriter() {
        XCTAssertEqual(APIError.invalid("'n' must be 1", param: "n").json.text,
                       #"{"error":{"message":"'n' must be 1","type":"invalid_request_error","param":"n","code":null}}"#)
        XCTAssertEqual(APIError.unauthorized.json.text,
                       #"{"error":{"message":"Incorrect or missing API key: send it as 'Authorization: Bearer <key>'","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#)
    }
}
