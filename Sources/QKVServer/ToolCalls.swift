import Foundation
import QKVSchema
import QKVTemplates
import QKVTokenizers

/// A function call a model wrote, as OpenAI hands it out: `arguments` is JSON text (compact, keys in
/// the model's order), since OpenAI's `function.arguments` is a string.
struct ToolCall: Equatable, Sendable {
    var id: String
    var name: String
    var arguments: String

    /// OpenAI's `tool_calls` item; with `index`, the item of a streamed delta.
    func json(index: Int? = nil) -> JSONValue {
        let item: JSONValue = ["id": .string(id), "type": "function", "function": ["name": .string(name), "arguments": .string(arguments)]]
        guard let index, case .object(let fields) = item else { return item }
        return .object([("index", .int(index))] + fields)
    }

    /// `call_` and 24 random letters and digits, as llama-server's ids.
    static func newID() -> String { "call_" + randomAlphanumerics(24) }

    static func randomAlphanumerics(_ count: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
}

/// A model's reply taken apart: the text outside the calls, and the calls in the order written.
struct ToolCallReply: Equatable {
    var content: String
    var calls: [ToolCall]
}

/// How a model writes tool calls, told by markers in its chat template's text as llama.cpp's
/// `common/chat.cpp` tells them: a template that renders past tool calls shows the model's own format.
///
/// Text that looks like a call but is not one (JSON that does not parse, a call without a name) stays
/// content: a reply is never refused for what the model wrote.
enum ToolCallFormat: String, Sendable, CaseIterable {
    /// Hermes 2/3 Pro, Qwen 2.5: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, a block per call.
    case hermes
    /// Llama 3.1-3.3: `{"name": …, "parameters": {…}}`; after `<|python_tag|>`, also a built-in tool's
    /// `name.call(key="value", …)` or code for the `python` tool.
    case llama3
    /// Mistral Nemo: `[TOOL_CALLS][{"name": …, "arguments": {…}, "id": "…"}, …]`.
    case mistralNemo
    /// DeepSeek R1: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME` then the
    /// arguments in a ```` ```json ```` block and `<｜tool▁call▁end｜>`, a block per call.
    case deepSeekR1
    /// A template that knows no tool format: llama.cpp's generic JSON reply, `{"tool_calls": [{"name",
    /// "arguments"}]}`, `{"tool_call": {…}}` or `{"response": "…"}`, asked for by a system message.
    case generic

    /// The format of the model whose chat template is `source`, by the markers llama.cpp looks for, in
    /// its order.
    init(template source: String) {
        if source.contains("<｜tool▁calls▁begin｜>") {
            self = .deepSeekR1
        } else if source.contains("<tool_call>") {
            self = .hermes
        } else if source.contains("<|start_header_id|>ipython<|end_header_id|>") {
            self = .llama3
        } else if source.contains("[TOOL_CALLS]") {
            self = .mistralNemo
        } else {
            self = .generic
        }
    }

    /// The system message that asks a generic model for JSON replies. llama.cpp's words; with no grammar
    /// to hold the model to the tools' schemas, the tools and the two shapes are spelled out.
    static func genericInstruction(tools: [TemplateValue]) -> String {
        let list = (try? TemplateValue.array(tools).compactJSON()) ?? "[]"
        return "Respond in JSON format, either with `tool_call` (a request to call tools) or with `response` reply to the user's request. "
            + "The tools: \(list)\n"
            + "A call: {\"tool_call\": {\"name\": \"<tool name>\", \"arguments\": {<arguments>}}}. A reply: {\"response\": \"<text>\"}."
    }

    // MARK: Parsing

    /// `text` taken apart into content and calls. With no call found the content is `text` unchanged;
    /// with calls, the content is the rest trimmed of the whitespace (and `;`) around the calls.
    func parse(_ text: String) -> ToolCallReply {
        let found: (content: String, calls: [ToolCall])? = switch self {
        case .hermes: Self.parseHermes(text)
        case .llama3: Self.parseLlama3(text)
        case .mistralNemo: Self.parseMistralNemo(text)
        case .deepSeekR1: Self.parseDeepSeekR1(text)
        case .generic: Self.parseGeneric(text)
        }
        guard let found, !found.calls.isEmpty else {
            // A generic `{"response": …}` is content without calls.
            if self == .generic, let found { return ToolCallReply(content: found.content, calls: []) }
            return ToolCallReply(content: text, calls: [])
        }
        return ToolCallReply(content: found.content.trimmingCharacters(in: .whitespacesAndNewlines), calls: found.calls)
    }

    /// `<tool_call>` blocks, each holding one JSON call; the closing tag may be missing at the very end
    /// (generation stopped there). A block whose JSON does not parse stays content.
    static func parseHermes(_ text: String) -> (content: String, calls: [ToolCall])? {
        var content = "", calls: [ToolCall] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<tool_call>") {
            content += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            let close = after.range(of: "</tool_call>")
            let inner = close.map { after[..<$0.lowerBound] } ?? after
            let end = close?.upperBound ?? rest.endIndex
            if let value = json(inner.trimmingCharacters(in: .whitespacesAndNewlines)), let call = call(value, argumentKeys: ["arguments"], argumentsRequired: false) {
                calls.append(call)
            } else {
                content += rest[open.lowerBound..<end]
            }
            rest = rest[end...]
        }
        content += rest
        return (content, calls)
    }

    /// Llama 3.x: after `<|python_tag|>` one call (JSON, a built-in's `name.call(…)`, or Python code);
    /// otherwise every JSON object of the shape `{"name": …, "parameters": {…}}` in the text.
    static func parseLlama3(_ text: String) -> (content: String, calls: [ToolCall])? {
        if let tag = text.range(of: "<|python_tag|>") {
            let before = String(text[..<tag.lowerBound])
            let code = text[tag.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
            if let value = json(code), let call = call(value, argumentKeys: ["parameters", "arguments"], argumentsRequired: true) {
                return (before, [call])
            }
            if let call = builtinCall(code) { return (before, [call]) }
            guard !code.isEmpty, let arguments = try? TemplateValue.dict(TemplateDict([("code", .string(code))])).compactJSON() else { return nil }
            return (before, [ToolCall(id: ToolCall.newID(), name: "python", arguments: arguments)])
        }
        var content = "", calls: [ToolCall] = []
        let scalars = text.unicodeScalars
        var shown = scalars.startIndex, index = scalars.startIndex
        while index < scalars.endIndex {
            if scalars[index] == "{", let end = jsonEnd(scalars, from: index), let value = json(String(scalars[index..<end])),
               case .dict(let object) = value, object.keys.allSatisfy(["type", "name", "parameters", "arguments", "id"].contains),
               let call = call(value, argumentKeys: ["parameters", "arguments"], argumentsRequired: true) {
                let between = String(scalars[shown..<index])
                // Calls may be separated by `;`; what separates them is not content.
                if !between.allSatisfy({ $0.isWhitespace || $0 == ";" }) { content += between }
                calls.append(call)
                shown = end
                index = end
            } else {
                index = scalars.index(after: index)
            }
        }
        let tail = String(scalars[shown...])
        if !tail.allSatisfy({ $0.isWhitespace || $0 == ";" }) { content += tail }
        return (content, calls)
    }

    /// A built-in tool's call as the Llama 3.1 template renders it: `brave_search.call(query="…")`.
    static func builtinCall(_ code: String) -> ToolCall? {
        guard let open = code.firstIndex(of: "("), code.hasSuffix(")") else { return nil }
        let head = code[..<open]
        guard head.hasSuffix(".call") else { return nil }
        let name = String(head.dropLast(5))
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        var pairs: [(String, TemplateValue)] = []
        let scalars = code.unicodeScalars
        var index = scalars.index(after: open)
        let end = scalars.index(before: scalars.endIndex)
        func skipSpace() { while index < end, scalars[index] == " " || scalars[index] == "," { index = scalars.index(after: index) } }
        skipSpace()
        while index < end {
            let keyStart = index
            while index < end, scalars[index] != "=" { index = scalars.index(after: index) }
            guard index < end else { return nil }
            let key = String(scalars[keyStart..<index]).trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return nil }
            index = scalars.index(after: index)
            while index < end, scalars[index] == " " { index = scalars.index(after: index) }
            let valueStart = index
            if index < end, scalars[index] == "\"" {
                guard let close = stringEnd(scalars, from: index), close <= end, let value = json(String(scalars[valueStart..<close])) else { return nil }
                pairs.append((key, value))
                index = close
            } else {
                while index < end, scalars[index] != "," { index = scalars.index(after: index) }
                let raw = String(scalars[valueStart..<index]).trimmingCharacters(in: .whitespaces)
                pairs.append((key, json(raw) ?? .string(raw)))
            }
            skipSpace()
        }
        guard let arguments = try? TemplateValue.dict(TemplateDict(pairs)).compactJSON() else { return nil }
        return ToolCall(id: ToolCall.newID(), name: name, arguments: arguments)
    }

    /// `[TOOL_CALLS]` and a JSON list of calls. The marker is a special token, which the server's
    /// decoding drops, so a reply that is only such a list counts too.
    static func parseMistralNemo(_ text: String) -> (content: String, calls: [ToolCall])? {
        let before: Substring, body: Substring
        if let marker = text.range(of: "[TOOL_CALLS]") {
            (before, body) = (text[..<marker.lowerBound], text[marker.upperBound...])
        } else {
            (before, body) = ("", Substring(text))
        }
        let scalars = body.unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }), scalars[start] == "[",
              let end = jsonEnd(scalars, from: start), case .array(let items)? = json(String(scalars[start..<end])), !items.isEmpty else { return nil }
        var calls: [ToolCall] = []
        for item in items {
            guard var call = call(item, argumentKeys: ["arguments"], argumentsRequired: false) else { return nil }
            // The template refuses ids that are not 9 letters and digits when the call comes back.
            if case .dict(let object) = item, case .string(let id)? = object["id"], id.count == 9, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                call.id = id
            } else {
                call.id = ToolCall.randomAlphanumerics(9)
            }
            calls.append(call)
        }
        return (String(before) + String(scalars[end...]), calls)
    }

    /// DeepSeek R1's blocks: `<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>`,
    /// inside `<｜tool▁calls▁begin｜>` … `<｜tool▁calls▁end｜>` (either end may be missing).
    static func parseDeepSeekR1(_ text: String) -> (content: String, calls: [ToolCall])? {
        guard let first = text.range(of: "<｜tool▁calls▁begin｜>") ?? text.range(of: "<｜tool▁call▁begin｜>") else { return nil }
        var rest = text[first.lowerBound...]
        if rest.hasPrefix("<｜tool▁calls▁begin｜>") { rest = rest.dropFirst("<｜tool▁calls▁begin｜>".count) }
        var calls: [ToolCall] = []
        while true {
            let trimmed = rest.drop(while: \.isWhitespace)
            guard trimmed.hasPrefix("<｜tool▁call▁begin｜>"), let sep = trimmed.range(of: "<｜tool▁sep｜>") else { break }
            let afterSep = trimmed[sep.upperBound...]
            guard let newline = afterSep.firstIndex(of: "\n") else { return nil }
            let name = afterSep[..<newline].trimmingCharacters(in: .whitespaces)
            var body = afterSep[afterSep.index(after: newline)...].drop(while: \.isWhitespace)
            if body.hasPrefix("```json") { body = body.dropFirst(7).drop(while: \.isWhitespace) }
            let scalars = body.unicodeScalars
            guard !name.isEmpty, let start = scalars.first, start == "{", let end = jsonEnd(scalars, from: scalars.startIndex),
                  let value = json(String(scalars[scalars.startIndex..<end])), case .dict = value,
                  let arguments = try? value.compactJSON() else { return nil }
            var after = Substring(String(scalars[end...])).drop(while: \.isWhitespace)
            if after.hasPrefix("```") { after = after.dropFirst(3).drop(while: \.isWhitespace) }
            if after.hasPrefix("<｜tool▁call▁end｜>") { after = after.dropFirst("<｜tool▁call▁end｜>".count) }
            calls.append(ToolCall(id: ToolCall.newID(), name: name, arguments: arguments))
            rest = after
        }
        guard !calls.isEmpty else { return nil }
        var tail = rest.drop(while: \.isWhitespace)
        if tail.hasPrefix("<｜tool▁calls▁end｜>") { tail = tail.dropFirst("<｜tool▁calls▁end｜>".count) }
        return (String(text[..<first.lowerBound]) + tail, calls)
    }

    /// A reply that is one JSON object (perhaps in a ```` ```json ```` fence): `tool_calls`, `tool_call`
    /// or `response`.
    static func parseGeneric(_ text: String) -> (content: String, calls: [ToolCall])? {
        var body = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        if body.hasPrefix("```") {
            body = body.dropFirst(3)
            if body.hasPrefix("json") { body = body.dropFirst(4) }
            guard body.hasSuffix("```") else { return nil }
            body = body.dropLast(3)
        }
        guard case .dict(let object)? = json(body.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        if case .array(let items)? = object["tool_calls"] {
            let calls = items.compactMap { call($0, argumentKeys: ["arguments"], argumentsRequired: false) }
            guard calls.count == items.count, !calls.isEmpty else { return nil }
            return ("", calls)
        }
        if let item = object["tool_call"] {
            guard let call = call(item, argumentKeys: ["arguments"], argumentsRequired: false) else { return nil }
            return ("", [call])
        }
        if case .string(let response)? = object["response"] { return (response, []) }
        return nil
    }

    // MARK: JSON

    /// A call from a parsed JSON object: a non-empty string `name` and arguments that are an object (or a
    /// string holding one, as some models write them) under the first of `argumentKeys` present;
    /// without any, `{}` unless `argumentsRequired`.
    static func call(_ value: TemplateValue, argumentKeys: [String], argumentsRequired: Bool) -> ToolCall? {
        guard case .dict(let object) = value, case .string(let name)? = object["name"], !name.isEmpty else { return nil }
        var arguments: TemplateValue? = nil
        for key in argumentKeys { if let found = object[key] { arguments = found; break } }
        switch arguments {
        case .dict?: break
        case .string(let text)?:
            guard case .dict? = json(text) else { return nil }
            arguments = json(text)
        case nil where !argumentsRequired: arguments = .dict(TemplateDict())
        default: return nil
        }
        guard let text = try? arguments?.compactJSON() else { return nil }
        return ToolCall(id: ToolCall.newID(), name: name, arguments: text)
    }

    static func json<S: StringProtocol>(_ text: S) -> TemplateValue? {
        try? TemplateValue(json: String(text))
    }

    /// Where the JSON object or list opening at `start` ends (just past its closing bracket), brackets
    /// counted outside strings; nil if it never closes. Whether it is valid JSON is for the parser.
    static func jsonEnd<Scalars: BidirectionalCollection<Unicode.Scalar>>(_ scalars: Scalars, from start: Scalars.Index) -> Scalars.Index? {
        var depth = 0, index = start
        while index < scalars.endIndex {
            switch scalars[index] {
            case "\"":
                guard let close = stringEnd(scalars, from: index) else { return nil }
                index = close
                continue
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { return scalars.index(after: index) }
            default: break
            }
            index = scalars.index(after: index)
        }
        return nil
    }

    /// Just past the JSON string opening at `start` (a `"`), backslash escapes skipped; nil if unclosed.
    static func stringEnd<Scalars: BidirectionalCollection<Unicode.Scalar>>(_ scalars: Scalars, from start: Scalars.Index) -> Scalars.Index? {
        var index = scalars.index(after: start)
        while index < scalars.endIndex {
            switch scalars[index] {
            case "\\":
                index = scalars.index(after: index)
                guard index < scalars.endIndex else { return nil }
            case "\"": return scalars.index(after: index)
            default: break
            }
            index = scalars.index(after: index)
        }
        return nil
    }

    // MARK: Special tokens

    /// The markers that open, close or separate calls. A model's vocabulary may hold one as a special
    /// token (Mistral's `[TOOL_CALLS]`, Llama 3's `<|python_tag|>`, `<tool_call>` in some vocabularies), which
    /// decoding leaves out of the text, as tokenizers' `skip_special_tokens` does.
    var tokenMarkers: [String] {
        switch self {
        case .hermes: ["<tool_call>", "</tool_call>"]
        case .llama3: ["<|python_tag|>"]
        case .mistralNemo: ["[TOOL_CALLS]"]
        case .deepSeekR1: ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"]
        case .generic: []
        }
    }

    /// The special tokens of `tokenizer` that are each a whole marker of this format, with its text:
    /// the reply shows them so that the parser sees them, as llama-server shows its "preserved" tokens.
    func shownTokens(_ tokenizer: any Tokenizer) -> [Int: String] {
        var shown: [Int: String] = [:]
        for marker in tokenMarkers {
            let ids = tokenizer.encode(marker, addSpecialTokens: false)
            if ids.count == 1, tokenizer.decode(ids).isEmpty { shown[ids[0]] = marker }
        }
        return shown
    }

    // MARK: Streaming

    /// Markers that may open a call anywhere in a reply, and those that open one only as its first text.
    var markers: (anywhere: [String], atStart: [String]) {
        switch self {
        case .hermes: (["<tool_call>"], [])
        case .llama3: (["<|python_tag|>", "{"], [])
        case .mistralNemo: (["[TOOL_CALLS]"], ["["])
        case .deepSeekR1: (["<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>"], [])
        case .generic: ([], ["{", "```"])
        }
    }
}

/// A streamed reply's text split as it comes: content is shown at once up to where a call may begin
/// (a marker of the format, or the start of one at the end of the text so far, or whitespace before
/// it); from a marker on, text waits for the end, where it is parsed into calls and what is left.
struct ToolCallStream {
    let format: ToolCallFormat
    private var held = ""
    private var holding = false
    private var shown = false

    init(format: ToolCallFormat) { self.format = format }

    /// The content `piece` lets the client see now ("" while it may belong to a call).
    mutating func feed(_ piece: String) -> String {
        held += piece
        guard !holding else { return "" }
        let (anywhere, atStart) = format.markers
        if !shown {
            let lead = held.drop(while: \.isWhitespace)
            if atStart.contains(where: { lead.hasPrefix($0) }) { holding = true; return "" }
            if !lead.isEmpty, atStart.contains(where: { $0.hasPrefix(lead) }) { return "" }
        }
        var keep = held.endIndex
        if let first = anywhere.compactMap({ held.range(of: $0)?.lowerBound }).min() {
            holding = true
            keep = first
        } else {
            // Keep back the longest tail that could still grow into a marker.
            for marker in anywhere {
                for length in stride(from: min(marker.count - 1, held.count), to: 0, by: -1) where held.hasSuffix(marker.prefix(length)) {
                    keep = min(keep, held.index(held.endIndex, offsetBy: -length))
                    break
                }
            }
        }
        // And the whitespace before it, which is not content if a call follows.
        while keep > held.startIndex, held[held.index(before: keep)].isWhitespace { keep = held.index(before: keep) }
        return release(upTo: keep)
    }

    /// What is still held, taken apart: content the client has not seen, and the calls.
    mutating func finish() -> ToolCallReply {
        defer { held = "" }
        return holding ? format.parse(held) : ToolCallReply(content: held, calls: [])
    }

    private mutating func release(upTo end: String.Index) -> String {
        let out = String(held[..<end])
        held = String(held[end...])
        if !out.isEmpty { shown = true }
        return out
    }
}
