import Foundation
import XCTest
import QKVTemplates
import QKVTokenizers
import QKVSchema
@testable import QKVServer

/// Where the fixtures and the shared chat templates are.
private enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> String { root.appendingPathComponent("Fixtures/\(name)").path }

    /// `../shared/data/chat-templates` beside the repository (or under `$QKV_SHARED_DATA`).
    static func chatTemplate(_ file: String) -> String {
        let shared = ProcessInfo.processInfo.environment["QKV_SHARED_DATA"] ?? root.deletingLastPathComponent().appendingPathComponent("shared/data").path
        return shared + "/chat-templates/" + file
    }
}

private extension TemplateValue {
    subscript(_ key: String) -> TemplateValue? { if case .dict(let d) = self { d[key] } else { nil } }
    var array: [TemplateValue] { if case .array(let a) = self { a } else { [] } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
}

/// The tool-call parser against assistant turns jinja2 rendered through the real chat templates
/// (Fixtures/templates/tool_calls.json, tools/make_tool_call_references.py): each turn's text, parsed in
/// the format detected from its template, must give back the calls it was rendered from.
final class ToolCallTests: XCTestCase {
    /// Each fixture template with its source, read from the shared folder.
    func fixtureTemplates() throws -> [(file: String, source: String, cases: [TemplateValue])] {
        let fixture = try TemplateValue(json: try String(contentsOfFile: Paths.fixture("templates/tool_calls.json"), encoding: .utf8))
        return try fixture["templates"]!.array.map { entry in
            let file = try XCTUnwrap(entry["file"]?.string)
            let source = try String(contentsOfFile: Paths.chatTemplate(file), encoding: .utf8)
            return (file, source, entry["cases"]!.array)
        }
    }

    /// The calls of a fixture case as (name, compact JSON arguments), and its expected content ("" for null).
    func expected(_ c: TemplateValue) throws -> (calls: [String], content: String) {
        let calls = try c["calls"]!.array.map { call in "\(call["name"]!.string!) \(try call["arguments"]!.compactJSON())" }
        return (calls, c["content"]?.string ?? "")
    }

    /// A parsed call as (name, its arguments parsed and written compactly): arguments compare as JSON.
    func described(_ call: ToolCall) throws -> String {
        "\(call.name) \(try TemplateValue(json: call.arguments).compactJSON())"
    }

    func testToolCallFormat_detectedFromTemplates() throws {
        let expected: [String: ToolCallFormat] = [
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": .hermes, "Qwen-Qwen2.5-7B-Instruct.jinja": .hermes,
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": .deepSeekR1, "google-gemma-2-2b-it.jinja": .generic,
            "meta-llama-Llama-3.1-8B-Instruct.jinja": .llama3, "meta-llama-Llama-3.2-3B-Instruct.jinja": .llama3,
            "microsoft-Phi-3.5-mini-instruct.jinja": .generic, "mistralai-Mistral-Nemo-Instruct-2407.jinja": .mistralNemo,
        ]
        for (file, format) in expected {
            let source = try String(contentsOfFile: Paths.chatTemplate(file), encoding: .utf8)
            XCTAssertEqual(ToolCallFormat(template: source), format, file)
        }
    }

    func testToolCalls_recoveredFromRenderedTurns() throws {
        var parsed = 0
        for (file, source, cases) in try fixtureTemplates() {
            let format = ToolCallFormat(template: source)
            XCTAssertNotEqual(format, .generic, "\(file) renders tool calls")
            for c in cases {
                guard let text = c["text"]?.string else { continue }
                let label = "\(file) / \(c["name"]!.string!)"
                let want = try expected(c)
                let reply = format.parse(text)
                XCTAssertEqual(try reply.calls.map(described), want.calls, label)
                XCTAssertEqual(reply.content, want.content, label)
                for call in reply.calls {
                    if format == .mistralNemo {
                        XCTAssertTrue(text.contains("\"id\": \"\(call.id)\""), "\(label): the model's own 9-character id")
                    } else {
                        XCTAssertTrue(call.id.hasPrefix("call_"), label)
                    }
                }
                parsed += 1
            }
        }
        // Hermes 4, Qwen 4, DeepSeek R1 3, Llama 3.1 and 3.2 3 each, Mistral Nemo 4.
        XCTAssertEqual(parsed, 21)
    }

    /// The same turns streamed a few characters at a time: what is shown at once and what the end
    /// gives add up to the content, and the calls are the same.
    func testToolCallStream_recoversRenderedTurnsInPieces() throws {
        for (file, source, cases) in try fixtureTemplates() {
            let format = ToolCallFormat(template: source)
            for c in cases {
                guard let text = c["text"]?.string else { continue }
                for size in [1, 3, 7] {
                    let label = "\(file) / \(c["name"]!.string!) in pieces of \(size)"
                    var stream = ToolCallStream(format: format)
                    var shown = ""
                    let characters = Array(text)
                    for start in stride(from: 0, to: characters.count, by: size) {
                        shown += stream.feed(String(characters[start..<min(start + size, characters.count)]))
                    }
                    let reply = stream.finish()
                    let want = try expected(c)
                    XCTAssertEqual(try reply.calls.map(described), want.calls, label)
                    XCTAssertEqual((shown + reply.content).trimmingCharacters(in: .whitespacesAndNewlines), want.content, label)
                }
            }
        }
    }

    /// Content around calls streams before them; plain text streams whole.
    func testToolCallStream_showsTextBeforeCall() {
        var stream = ToolCallStream(format: .hermes)
        XCTAssertEqual(stream.feed("Let me "), "Let me")
        XCTAssertEqual(stream.feed("look.\n<tool"), " look.")
        XCTAssertEqual(stream.feed("_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"), "")
        let reply = stream.finish()
        XCTAssertEqual(reply.calls.map(\.name), ["now"])
        XCTAssertEqual(reply.content, "")

        var plain = ToolCallStream(format: .hermes)
        XCTAssertEqual(plain.feed("<b>bold</b> text"), "<b>bold</b> text")
        XCTAssertEqual(plain.finish(), ToolCallReply(content: "", calls: []))
    }

    // MARK: Malformed calls stay content

    func assertContent(_ format: ToolCallFormat, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(format.parse(text), ToolCallReply(content: text, calls: []), file: file, line: line)
        var stream = ToolCallStream(format: format)
        let shown = stream.feed(text)
        let rest = stream.finish()
        XCTAssertEqual(shown + rest.content, text, "streamed", file: file, line: line)
        XCTAssertEqual(rest.calls, [], "streamed", file: file, line: line)
    }

    func testHermes_malformedStaysContent() {
        assertContent(.hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }}\n</tool_call>")
        assertContent(.hermes, "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>")   // no name
        assertContent(.hermes, "<tool_call>{\"name\": \"get_weather\", \"arguments\": [1, 2]}</tool_call>")   // arguments not an object
        assertContent(.hermes, "I'd write <tool_call> here")
    }

    func testHermes_badBlockStaysContentBesideGoodOne() {
        let reply = ToolCallFormat.hermes.parse("<tool_call>{\"name\": 1}</tool_call>\n<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>")
        XCTAssertEqual(reply.calls.map(\.name), ["now"])
        XCTAssertEqual(reply.content, "<tool_call>{\"name\": 1}</tool_call>")
    }

    func testHermes_unclosedLastBlock() {
        let reply = ToolCallFormat.hermes.parse("<tool_call>\n{\"name\": \"now\", \"arguments\": {}}")
        XCTAssertEqual(reply.calls.map(\.name), ["now"])
        XCTAssertEqual(reply.content, "")
    }

    func testLlama3_malformedStaysContent() {
        assertContent(.llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}")   // unclosed
        assertContent(.llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": Paris}}")   // not JSON
        assertContent(.llama3, "The answer is {\"city\": \"Paris\"}.")   // no name
        assertContent(.llama3, "{\"name\": \"Ann\", \"age\": 3}")   // not a call's keys
    }

    func testLlama3_callsAmongText() throws {
        let reply = ToolCallFormat.llama3.parse("Sure. {\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"type\": \"function\", \"name\": \"b\", \"arguments\": {}}")
        XCTAssertEqual(try reply.calls.map(described), ["a {\"x\":1}", "b {}"])
        XCTAssertEqual(reply.content, "Sure.")
    }

    func testLlama3_pythonTag() throws {
        let builtin = ToolCallFormat.llama3.parse("<|python_tag|>brave_search.call(query=\"weather in Zürich\", count=3)")
        XCTAssertEqual(try builtin.calls.map(described), ["brave_search {\"query\":\"weather in Zürich\",\"count\":3}"])
        let code = ToolCallFormat.llama3.parse("<|python_tag|>print(\"hi\")")
        XCTAssertEqual(try code.calls.map(described), ["python {\"code\":\"print(\\\"hi\\\")\"}"])
        let json = ToolCallFormat.llama3.parse("<|python_tag|>{\"name\": \"now\", \"parameters\": {}}")
        XCTAssertEqual(try json.calls.map(described), ["now {}"])
    }

    func testMistralNemo_malformedStaysContent() {
        assertContent(.mistralNemo, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}")   // unclosed
        assertContent(.mistralNemo, "[TOOL_CALLS][1, 2]")
        assertContent(.mistralNemo, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\",}}]")   // trailing comma
        assertContent(.mistralNemo, "[1] is a citation.")
    }

    /// `[TOOL_CALLS]` is a special token the server's decoding drops: a bare list of calls counts; a
    /// model id that is not 9 letters and digits is replaced by one that is (the template wants them).
    func testMistralNemo_withoutMarker() throws {
        let reply = ToolCallFormat.mistralNemo.parse(" [{\"name\": \"now\", \"arguments\": {}, \"id\": \"x\"}]")
        XCTAssertEqual(try reply.calls.map(described), ["now {}"])
        XCTAssertEqual(reply.calls.first?.id.count, 9)
    }

    func testDeepSeekR1_malformedStaysContent() {
        assertContent(.deepSeekR1, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": }\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
        assertContent(.deepSeekR1, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>\n```json\n{}\n```<｜tool▁call▁end｜>")   // no name
    }

    func testGeneric_replies() throws {
        let calls = ToolCallFormat.generic.parse("{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"now\", \"arguments\": {}}]}")
        XCTAssertEqual(try calls.calls.map(described), ["get_weather {\"city\":\"Paris\"}", "now {}"])
        XCTAssertEqual(calls.content, "")
        let one = ToolCallFormat.generic.parse("```json\n{\"tool_call\": {\"name\": \"now\", \"arguments\": {}}}\n```")
        XCTAssertEqual(try one.calls.map(described), ["now {}"])
        XCTAssertEqual(ToolCallFormat.generic.parse("{\"response\": \"It is sunny.\"}"), ToolCallReply(content: "It is sunny.", calls: []))
    }

    func testGeneric_malformedStaysContent() {
        assertContent(.generic, "{\"tool_call\": {\"name\": \"now\"")
        assertContent(.generic, "{\"tool_calls\": [{\"arguments\": {}}]}")
        assertContent(.generic, "Plain words, {\"no\": \"call\"}.")
    }

    /// OpenAI's shapes: a message's `tool_calls` item, and a streamed delta's with its `index`.
    func testToolCallJSON_openAIShape() throws {
        let call = ToolCall(id: "call_abc", name: "get_weather", arguments: "{\"city\":\"Zürich\"}")
        XCTAssertEqual(call.json().text, #"{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Zürich\"}"}}"#)
        XCTAssertEqual(call.json(index: 1).text, #"{"index":1,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Zürich\"}"}}"#)
        XCTAssertTrue(ToolCall.newID().hasPrefix("call_"))
        XCTAssertEqual(ToolCall.newID().count, 29)
    }

    // MARK: Special tokens

    /// A marker that is one special token (which decoding leaves out) is shown; one that decodes as
    /// itself, or takes several tokens, needs nothing.
    func testShownTokens_specialMarkersOnly() {
        let tokenizer = WordTokenizer(vocabulary: ["<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>"], special: [0, 2])
        XCTAssertEqual(ToolCallFormat.hermes.shownTokens(tokenizer), [0: "<tool_call>"])
        XCTAssertEqual(ToolCallFormat.mistralNemo.shownTokens(tokenizer), [2: "[TOOL_CALLS]"])
        XCTAssertEqual(ToolCallFormat.llama3.shownTokens(tokenizer), [:])
        XCTAssertEqual(ToolCallFormat.generic.shownTokens(tokenizer), [:])
        XCTAssertEqual(ToolCallFormat.deepSeekR1.shownTokens(tokenizer), [:])
    }

    // MARK: Conversations with calls and results, through the templates

    /// An assistant message's `arguments` as OpenAI sends them (a JSON string) render as jinja2 renders
    /// the same call with an object (Fixtures/templates/chat.json, `tool_call_round`), for every template
    /// jinja2 renders that conversation with.
    func testMessageVariants_stringArgumentsRenderAsObjects() throws {
        let fixture = try TemplateValue(json: try String(contentsOfFile: Paths.fixture("templates/chat.json"), encoding: .utf8))
        var compared = 0
        // The fixture's `now` ("2024-07-26T14:05:09"), a local time as Python's naive datetime.
        let parts = fixture["now"]!.string!.split(whereSeparator: { "-T:".contains($0) }).map { Int($0)! }
        let now = try XCTUnwrap(Calendar.current.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])))
        for entry in fixture["templates"]!.array {
            let file = entry["file"]!.string!
            let template = try Template(try String(contentsOfFile: Paths.chatTemplate(file), encoding: .utf8))
            for c in entry["cases"]!.array where ["tool_call_round", "two_tool_calls"].contains(c["name"]!.string!) {
                guard let output = c["output"]?.string else { continue }
                // As an OpenAI client sends them: every call's arguments a JSON string.
                let sent = try c["messages"]!.array.map { message -> TemplateValue in
                    guard case .dict(let fields) = message, case .array(let calls)? = fields["tool_calls"] else { return message }
                    let stringCalls = try calls.map { call -> TemplateValue in
                        guard case .dict(let callFields) = call, case .dict(let function)? = callFields["function"], let arguments = function["arguments"] else { return call }
                        let text = try arguments.string ?? arguments.compactJSON()
                        return .dict(Routes.replacing("function", with: .dict(Routes.replacing("arguments", with: .string(text), in: function)), in: callFields))
                    }
                    return .dict(Routes.replacing("tool_calls", with: .array(stringCalls), in: fields))
                }
                let tools = c["tools"]?.array
                let extra = Dictionary(uniqueKeysWithValues: c["extra"]!.dictionaryPairs)
                // As the server does: the first variant the template takes.
                var rendered: String?
                for variant in Routes.messageVariants(sent, tools: tools, format: nil) where rendered == nil {
                    rendered = try? template.renderChat(messages: variant, tools: tools, addGenerationPrompt: c["add_generation_prompt"]!.isTrue, extra: extra, now: now)
                }
                XCTAssertEqual(rendered, output, "\(file) / \(c["name"]!.string!)")
                compared += 1
            }
        }
        XCTAssertEqual(compared, 10)   // each conversation: five templates jinja2 renders it with
    }
}

private extension TemplateValue {
    var dictionaryPairs: [(String, TemplateValue)] { if case .dict(let d) = self { d.pairs } else { [] } }
    var isTrue: Bool { if case .bool(true) = self { true } else { false } }
}

/// A tokenizer whose vocabulary is a few whole strings, then every Unicode scalar; `special` ones decode
/// to nothing, as special tokens do.
private struct WordTokenizer: Tokenizer {
    let vocabulary: [String]
    let special: Set<Int>

    func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        if let id = vocabulary.firstIndex(of: text) { return [id] }
        return text.unicodeScalars.map { vocabulary.count + Int($0.value) }
    }
    func decode(_ ids: [Int]) -> String {
        ids.map { id in
            if id < vocabulary.count { return special.contains(id) ? "" : vocabulary[id] }
            return Unicode.Scalar(UInt32(id - vocabulary.count)).map { String($0) } ?? ""
        }.joined()
    }
    func tokens(_ ids: [Int]) -> [String] { ids.map { String($0) } }
}
