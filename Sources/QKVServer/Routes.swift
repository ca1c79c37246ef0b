import Foundation
import Hummingbird
import NIOCore
import QKVInference
import QKVFormat
import QKVTemplates
import QKVTokenizers

/// The endpoints, each reading its JSON body field by field and answering in OpenAI's (or, for
/// `/tokenize` and `/detokenize`, llama-server's) shape.
struct Routes: Sendable {
    let registry: ModelRegistry
    let metrics: ServerMetrics
    let maxBodyBytes: Int

    /// Every path served and its method (other methods answer 405); the `endpoint` label of the metrics.
    static let methods: [String: String] = ["/health": "GET", "/metrics": "GET", "/v1/models": "GET", "/v1/embeddings": "POST", "/v1/rerank": "POST",
                                            "/v1/completions": "POST", "/v1/chat/completions": "POST", "/tokenize": "POST", "/detokenize": "POST"]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in try await health() }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text())))
        }
        router.get("/v1/models") { _, _ in try await models() }
        router.post("/v1/embeddings") { request, _ in try await embeddings(try await body(request)) }
        router.post("/v1/rerank") { request, _ in try await rerank(try await body(request)) }
        router.post("/v1/completions") { request, _ in try await completions(try await body(request)) }
        router.post("/v1/chat/completions") { request, _ in try await chat(try await body(request)) }
        router.post("/tokenize") { request, _ in try await tokenize(try await body(request)) }
        router.post("/detokenize") { request, _ in try await detokenize(try await body(request)) }
    }

    // MARK: Endpoints

    func health() async throws -> Response {
        switch await registry.state {
        case .ready: return Self.json(["status": "ok"])
        case .loading: return Self.json(["status": "loading"], status: .serviceUnavailable)
        case .failed(let reason): return Self.json(["status": "error", "error": .string(reason)], status: .serviceUnavailable)
        }
    }

    func models() async throws -> Response {
        try await registry.requireReady()
        let list = await registry.models.map { model -> JSONValue in
            ["id": .string(model.name), "object": "model", "created": .int(Int(model.loaded.timeIntervalSince1970)), "owned_by": "qkv"]
        }
        return Self.json(["object": "list", "data": .array(list)])
    }

    func embeddings(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard case .embedding(let embedder) = model.kind else {
            throw APIError.invalid("'\(model.name)' is \(model.kindDescription); embeddings come from encoder models", param: "model")
        }
        let format = try body.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else { throw APIError.invalid("'encoding_format' must be float or base64", param: "encoding_format") }
        let inputs = try body.textsOrTokens("input")
        guard inputs.count <= 2048 else { throw APIError.invalid("'input' has \(inputs.count) items; at most 2048", param: "input") }
        let vocabulary = embedder.encoder.config.vocabSize
        // Texts get the model's default prompt, as `qkv embed` gives them (token ids are taken as they are).
        let prefix = (try? embedder.promptText(.modelDefault)) ?? ""
        let ids = try inputs.map { item throws(APIError) -> [Int] in
            switch item {
            case .text(let text): return embedder.tokenizer.encode(prefix + text)
            case .tokens(let tokens):
                guard !tokens.isEmpty, tokens.allSatisfy({ $0 < vocabulary }) else { throw APIError.invalid("token ids must be below the vocabulary size \(vocabulary)", param: "input") }
                guard tokens.count <= model.contextLength else {
                    throw APIError.invalid("an input of \(tokens.count) tokens is longer than the model's \(model.contextLength) positions", param: "input")
                }
                return tokens
            }
        }
        let vectors = try await registry.batcher(for: model.name).submit(ids)
        let data = vectors.enumerated().map { index, vector -> JSONValue in
            let embedding: JSONValue = format == "float" ? .array(vector.map { .double(Double($0)) })
                : .string(vector.withUnsafeBytes { Data($0).base64EncodedString() })
            return ["object": "embedding", "index": .int(index), "embedding": embedding]
        }
        let tokens = ids.reduce(0) { $0 + $1.count }
        return Self.json(["object": "list", "data": .array(data), "model": .string(model.name), "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]])
    }

    /// `/v1/rerank` (llama-server's, Jina's and text-embeddings-inference's shape): every document scored
    /// with the query by the model's classification head, most relevant first, `top_n` of them; each
    /// result's `document` is `{"text": ...}` unless `return_documents` is false.
    func rerank(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard case .reranking(let reranker) = model.kind else {
            throw APIError.invalid("'\(model.name)' is \(model.kindDescription); reranking needs a cross-encoder (a classification head of one output)", param: "model")
        }
        let query = try body.requiredString("query")
        let documents = try body.documents("documents")
        guard documents.count <= 2048 else { throw APIError.invalid("'documents' has \(documents.count) items; at most 2048", param: "documents") }
        let topN = try body.int("top_n", in: 1...Int(Int32.max)) ?? documents.count
        let returnDocuments = try body.bool("return_documents") ?? true
        let pairs = documents.map { reranker.tokenizer.encodePair(query, $0) }
        if let long = pairs.first(where: { $0.ids.count > model.contextLength }) {
            throw APIError.invalid("a (query, document) pair of \(long.ids.count) tokens is longer than the model's \(model.contextLength) positions", param: "documents")
        }
        // Scored in batches shared with the requests that arrive meanwhile.
        let ranked = CrossEncoder.ranked(try await registry.reranker(for: model.name).submit(pairs))
        let results = ranked.prefix(topN).map { item -> JSONValue in
            var result: [(key: String, value: JSONValue)] = [("index", .int(item.index)), ("relevance_score", .double(Double(item.score)))]
            if returnDocuments { result.append(("document", ["text": .string(documents[item.index])])) }
            return .object(result)
        }
        let tokens = pairs.reduce(0) { $0 + $1.ids.count }
        return Self.json(["object": "list", "model": .string(model.name), "results": .array(results), "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]])
    }

    func completions(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard case .generation(let language) = model.kind else {
            throw APIError.invalid("'\(model.name)' is \(model.kindDescription); completions come from decoder models", param: "model")
        }
        let inputs = try body.textsOrTokens("prompt")
        guard inputs.count == 1 else { throw APIError.invalid("'prompt' must be one string or one list of token ids", param: "prompt") }
        let prompt: [Int]
        switch inputs[0] {
        case .text(let text):
            guard let tokenizer = language.tokenizer else { throw APIError.invalid("'\(model.name)' has no tokenizer; send token ids", param: "prompt") }
            prompt = tokenizer.encode(text)
        case .tokens(let tokens):
            let vocabulary = language.model.config.vocabSize
            guard !tokens.isEmpty, tokens.allSatisfy({ $0 < vocabulary }) else { throw APIError.invalid("token ids must be below the vocabulary size \(vocabulary)", param: "prompt") }
            prompt = tokens
        }
        let echo = try body.bool("echo") ?? false
        let prefix = echo ? (language.tokenizer?.decode(prompt) ?? "") : ""
        return try await generate(body, model: model, language: language, prompt: prompt, chat: false, prefix: prefix)
    }

    /// `/v1/chat/completions`: the messages rendered by the model's own chat template (with the
    /// generation prompt), tokenized as the text the template made (its special tokens recognised, none
    /// added), then generated as a completion.
    func chat(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard case .generation(let language) = model.kind else {
            throw APIError.invalid("'\(model.name)' is \(model.kindDescription); chat completions come from decoder models", param: "model")
        }
        guard let loaded = model.chatTemplate else {
            throw APIError.invalid("'\(model.name)' has no chat template (tokenizer_config.json's chat_template or GGUF's tokenizer.chat_template); use /v1/completions", param: "model")
        }
        let template: Template
        switch loaded {
        case .success(let parsed): template = parsed
        case .failure(let error): throw APIError.invalid("'\(model.name)''s chat template cannot be parsed: \(error)", param: "model")
        }
        guard let tokenizer = language.tokenizer else { throw APIError.invalid("'\(model.name)' has no tokenizer", param: "model") }
        // The messages and tools with their keys in order (a template may print them as JSON).
        guard case .dict(let fields) = TemplateValue(body.json), case .array(let messages)? = fields["messages"], !messages.isEmpty,
              messages.allSatisfy({ if case .dict(let m) = $0 { m["role"] != nil } else { false } }) else {
            throw APIError.invalid("'messages' must be a non-empty list of objects with a role", param: "messages")
        }
        // `tool_choice: "none"` hides the tools from the template and leaves the reply unparsed.
        let tools = try Self.tools(fields["tools"], choice: body)
        let format = tools == nil ? nil : model.toolCallFormat
        let extra = model.specialTokens.mapValues { TemplateValue.string($0) }
        let text: String
        do {
            let variants = Self.messageVariants(messages.map(Self.plainContent), tools: tools, format: format)
            text = try await Self.onLargeStack {
                var firstError: (any Error)?
                for variant in variants {
                    do { return try template.renderChat(messages: variant, tools: tools, addGenerationPrompt: true, extra: extra) } catch {
                        if firstError == nil { firstError = error }
                    }
                }
                throw firstError!
            }
        } catch {
            throw APIError.invalid("the chat template failed on these messages: \(error)", param: "messages")
        }
        let prompt = tokenizer.encode(text, addSpecialTokens: false)
        guard !prompt.isEmpty else { throw APIError.invalid("the chat template made an empty prompt", param: "messages") }
        return try await generate(body, model: model, language: language, prompt: prompt, chat: true, prefix: "", toolCalls: format)
    }

    /// The request's `tools` as the template gets them, or nil when there are none or `tool_choice` is
    /// `"none"`. `tool_choice` may be `"auto"` (the default) or `"none"`: forcing a call (`"required"`, a
    /// named function) needs decoding held to the tools' grammar, which this server does not do.
    static func tools(_ value: TemplateValue?, choice body: RequestBody) throws(APIError) -> [TemplateValue]? {
        if body.has("tool_choice") {
            guard case .string(let choice)? = body.fields["tool_choice"], choice == "auto" || choice == "none" else {
                throw APIError.invalid("'tool_choice' must be \"auto\" or \"none\": this server cannot force a tool call (\"required\" or a named function)", param: "tool_choice")
            }
            if choice == "none" { return nil }
        }
        _ = try body.bool("parallel_tool_calls")   // checked, then moot: every call the model writes is returned
        guard let value else { return nil }
        if case .none = value { return nil }
        guard case .array(let list) = value else { throw APIError.invalid("'tools' must be a list of tools", param: "tools") }
        for tool in list {
            guard case .dict(let fields) = tool, case .string("function")? = fields["type"], case .dict(let function)? = fields["function"],
                  case .string(let name)? = function["name"], !name.isEmpty else {
                throw APIError.invalid("'tools' must list objects {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": ...}}", param: "tools")
            }
        }
        return list.isEmpty ? nil : list
    }

    /// The message lists to try rendering, in order; the first the template takes is used. Assistant
    /// `tool_calls` carry `arguments` as a JSON string (OpenAI's form) while most templates expect an
    /// object (they print it with `tojson` or iterate it), so the arguments are parsed first, as
    /// llama-server's templates get them; a template that concatenates them as text (DeepSeek R1) fails
    /// on objects and gets the strings as sent. A generic-format model gets llama.cpp's system message
    /// asking for JSON replies, or, if the template refuses system messages, it opens the first user message.
    static func messageVariants(_ messages: [TemplateValue], tools: [TemplateValue]?, format: ToolCallFormat?) -> [[TemplateValue]] {
        let parsed = messages.map { objectArguments($0) ?? $0 }
        var variants = [parsed]
        if messages.contains(where: { objectArguments($0) != nil }) { variants.append(messages) }
        guard let tools, format == .generic else { return variants }
        let instruction = ToolCallFormat.genericInstruction(tools: tools)
        return variants.flatMap { list -> [[TemplateValue]] in
            var withSystem = list, inUser = list
            if case .dict(let first)? = list.first, case .string("system")? = first["role"] {
                let content = if case .string(let text)? = first["content"] { text + "\n\n" } else { "" }
                withSystem[0] = .dict(Self.replacing("content", with: .string(content + instruction), in: first))
            } else {
                withSystem.insert(.dict(TemplateDict([("role", "system"), ("content", .string(instruction))])), at: 0)
            }
            if let index = list.firstIndex(where: { if case .dict(let m) = $0, case .string("user")? = m["role"] { true } else { false } }),
               case .dict(let user) = list[index], case .string(let text)? = user["content"] {
                inUser[index] = .dict(Self.replacing("content", with: .string(instruction + "\n\n" + text), in: user))
                return [withSystem, inUser]
            }
            return [withSystem]
        }
    }

    /// An assistant message whose `tool_calls[].function.arguments` are JSON strings with them parsed;
    /// nil when it has none to parse.
    static func objectArguments(_ message: TemplateValue) -> TemplateValue? {
        guard case .dict(let fields) = message, case .array(let calls)? = fields["tool_calls"] else { return nil }
        var changed = false
        let parsed = calls.map { call -> TemplateValue in
            guard case .dict(let c) = call, case .dict(let function)? = c["function"], case .string(let text)? = function["arguments"],
                  let arguments = try? TemplateValue(json: text) else { return call }
            changed = true
            return .dict(replacing("function", with: .dict(replacing("arguments", with: arguments, in: function)), in: c))
        }
        return changed ? .dict(replacing("tool_calls", with: .array(parsed), in: fields)) : nil
    }

    /// `dict` with `key`'s value replaced (or added at the end), its order kept.
    static func replacing(_ key: String, with value: TemplateValue, in dict: TemplateDict) -> TemplateDict {
        var pairs = dict.pairs
        if let index = pairs.firstIndex(where: { $0.0 == key }) { pairs[index].1 = value } else { pairs.append((key, value)) }
        return TemplateDict(pairs)
    }

    /// Runs `work` on a thread of its own with a 16 MiB stack: templates come from model files and the
    /// interpreter recurses as deep as its limits allow, more than a task's thread may hold.
    static func onLargeStack<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// A message whose `content` is a list of parts (OpenAI's `[{"type": "text", "text": ...}]`) with its
    /// text parts joined, as templates expect a string.
    static func plainContent(_ message: TemplateValue) -> TemplateValue {
        guard case .dict(let fields) = message, case .array(let parts)? = fields["content"] else { return message }
        let text = parts.compactMap { part -> String? in
            guard case .dict(let p) = part, case .string(let t)? = p["text"] else { return nil }
            return t
        }.joined()
        return .dict(TemplateDict(fields.pairs.map { $0.0 == "content" ? ($0.0, .string(text)) : $0 }))
    }

    /// The completion of `prompt` in OpenAI's completion or chat shape, whole or streamed; with
    /// `toolCalls`, a chat reply's calls in that format come out as `tool_calls`.
    func generate(_ body: RequestBody, model: ServedModel, language: LanguageModel, prompt: [Int], chat: Bool, prefix: String,
                  toolCalls: ToolCallFormat? = nil) async throws -> Response {
        for unsupported in ["suffix", "best_of", "logit_bias", "response_format"] + (chat ? [] : ["tool_choice"]) where body.has(unsupported) {
            throw APIError.invalid("'\(unsupported)' is not supported by this server", param: unsupported)
        }
        // Log-probabilities: completions' `logprobs: N` (0...5 alternatives); chat's `logprobs: true` with
        // `top_logprobs: N` (0...20).
        let logprobs: Int?
        if chat {
            let top = try body.int("top_logprobs", in: 0...20)
            if try body.bool("logprobs") == true {
                logprobs = top ?? 0
            } else {
                guard top == nil else { throw APIError.invalid("'top_logprobs' needs 'logprobs': true", param: "top_logprobs") }
                logprobs = nil
            }
        } else {
            logprobs = try body.int("logprobs", in: 0...5)
            if body.has("top_logprobs") { throw APIError.invalid("'top_logprobs' is for chat completions; completions take 'logprobs': N", param: "top_logprobs") }
            if logprobs != nil, !prefix.isEmpty { throw APIError.invalid("'logprobs' with 'echo' is not supported by this server", param: "logprobs") }
        }
        if let n = try body.int("n", in: 1...128), n != 1 { throw APIError.invalid("'n' must be 1", param: "n") }
        guard !prompt.isEmpty else { throw APIError.invalid("the prompt gives no tokens", param: chat ? "messages" : "prompt") }
        let maxTokens = try body.int("max_completion_tokens", in: 1...1_000_000) ?? body.int("max_tokens", in: 1...1_000_000) ?? (chat ? model.contextLength - prompt.count : 16)
        guard maxTokens > 0, prompt.count + maxTokens <= model.contextLength else {
            throw APIError.invalid("The prompt's \(prompt.count) tokens and max_tokens \(maxTokens) are more than the model's context of \(model.contextLength) tokens", param: "max_tokens")
        }
        let sampling = SamplingOptions(temperature: Float(try body.double("temperature", in: 0...2) ?? 1),
                                       topK: try body.int("top_k", in: 0...1_000_000).flatMap { $0 == 0 ? nil : $0 },
                                       topP: try body.double("top_p", in: 0...1).map(Float.init),
                                       seed: UInt64(try body.int("seed", in: Int.min...Int.max).map { UInt64(bitPattern: Int64($0)) } ?? UInt64.random(in: 0...UInt64.max)))
        let stop = try body.stopSequences()
        let stream = try body.bool("stream") ?? false
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = Int(Date().timeIntervalSince1970)
        let name = model.name
        let shownTokens = toolCalls.flatMap { format in language.tokenizer.map(format.shownTokens) } ?? [:]
        let events = try await registry.scheduler(for: model.name).submit(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stop: stop, logprobs: logprobs,
                                                                          shownTokens: shownTokens)
        let object = chat ? "chat.completion" : "text_completion"
        let startReport = LogprobReport(tokenizer: language.tokenizer, chat: chat, offset: prefix.unicodeScalars.count)

        if !stream {
            var report = startReport
            var text = prefix, usage: JSONValue = [:], finish = "length", chosen: [TokenLogProbabilities] = []
            for try await event in events {
                switch event {
                case .text(let piece, let tokens):
                    text += piece
                    chosen += tokens
                case .finished(let reason, let promptTokens, let completionTokens, let tokens):
                    finish = reason.rawValue
                    chosen += tokens
                    usage = ["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens), "total_tokens": .int(promptTokens + completionTokens)]
                }
            }
            let logprobsJSON: JSONValue = logprobs == nil ? .null : report.json(chosen)
            var message: [(key: String, value: JSONValue)] = [("role", "assistant"), ("content", .string(text))]
            if let reply = toolCalls?.parse(text), !reply.calls.isEmpty {
                message[1].value = reply.content.isEmpty ? .null : .string(reply.content)
                message.append(("tool_calls", .array(reply.calls.map { $0.json() })))
                if finish == "stop" { finish = "tool_calls" }
            }
            let choice: JSONValue = chat
                ? ["index": 0, "message": .object(message), "logprobs": logprobsJSON, "finish_reason": .string(finish)]
                : ["text": .string(text), "index": 0, "logprobs": logprobsJSON, "finish_reason": .string(finish)]
            return Self.json(["id": .string(id), "object": .string(object), "created": .int(created), "model": .string(name), "choices": [choice], "usage": usage])
        }
        let body = ResponseBody { writer in
            var report = startReport
            func send(_ text: String?, finish: String?, tokens: [TokenLogProbabilities] = [], first: Bool = false, call: JSONValue? = nil) async throws {
                let logprobsJSON: JSONValue = logprobs == nil || first ? .null : report.json(tokens)
                let finishJSON = finish.map(JSONValue.string) ?? .null
                let choice: JSONValue
                if chat {
                    var delta: [(key: String, value: JSONValue)] = []
                    if first { delta.append(("role", "assistant")) }
                    if let text { delta.append(("content", .string(text))) }
                    if let call { delta.append(("tool_calls", [call])) }
                    choice = ["index": 0, "delta": .object(delta), "logprobs": logprobsJSON, "finish_reason": finishJSON]
                } else {
                    choice = ["text": .string(text ?? ""), "index": 0, "logprobs": logprobsJSON, "finish_reason": finishJSON]
                }
                let chunk: JSONValue = ["id": .string(id), "object": chat ? "chat.completion.chunk" : "text_completion", "created": .int(created),
                                        "model": .string(name), "choices": [choice]]
                try await writer.write(ByteBuffer(string: "data: " + chunk.text + "\n\n"))
            }
            if chat { try await send(nil, finish: nil, first: true) }
            if !prefix.isEmpty { try await send(prefix, finish: nil) }
            // With tools, text that may be a call waits (ToolCallStream); each call goes out whole in a
            // chunk of its own once the reply has ended, then the finish. Log-probabilities of text
            // held back go with the next chunk sent.
            var splitter = toolCalls.map(ToolCallStream.init)
            var heldTokens: [TokenLogProbabilities] = []
            for try await event in events {
                switch event {
                case .text(let piece, let tokens):
                    guard splitter != nil else { try await send(piece, finish: nil, tokens: tokens); break }
                    heldTokens += tokens
                    let shown = splitter!.feed(piece)
                    if !shown.isEmpty {
                        try await send(shown, finish: nil, tokens: heldTokens)
                        heldTokens = []
                    }
                case .finished(let reason, _, _, let tokens):
                    heldTokens += tokens
                    var finish = reason.rawValue
                    if let reply = splitter?.finish() {
                        if !reply.content.isEmpty {
                            try await send(reply.content, finish: nil, tokens: heldTokens)
                            heldTokens = []
                        }
                        for (index, call) in reply.calls.enumerated() { try await send(nil, finish: nil, call: call.json(index: index)) }
                        if !reply.calls.isEmpty, finish == "stop" { finish = "tool_calls" }
                    }
                    try await send(chat ? nil : "", finish: finish, tokens: heldTokens)
                }
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// llama-server's `/tokenize`: `{"content", "add_special", "with_pieces"}` → `{"tokens"}`.
    func tokenize(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard let tokenizer = model.tokenizer else { throw APIError.invalid("'\(model.name)' has no tokenizer", param: "model") }
        let content = try body.requiredString("content")
        let ids = tokenizer.encode(content, addSpecialTokens: try body.bool("add_special") ?? false)
        if try body.bool("with_pieces") ?? false {
            let pieces = tokenizer.tokens(ids)
            return Self.json(["tokens": .array(zip(ids, pieces).map { ["id": .int($0), "piece": .string($1)] })])
        }
        return Self.json(["tokens": .ints(ids)])
    }

    /// llama-server's `/detokenize`: `{"tokens"}` → `{"content"}`.
    func detokenize(_ body: RequestBody) async throws -> Response {
        let model = try await registry.model(try body.string("model"))
        guard let tokenizer = model.tokenizer else { throw APIError.invalid("'\(model.name)' has no tokenizer", param: "model") }
        let ids = try body.tokenIDs("tokens")
        return Self.json(["content": .string(tokenizer.decode(ids))])
    }

    // MARK: Plumbing

    /// The body, up to the size limit, parsed.
    func body(_ request: Request) async throws -> RequestBody {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maxBodyBytes) } catch { throw APIError.tooLarge(limit: maxBodyBytes) }
        return try RequestBody(Array(buffer.readableBytesView))
    }

    /// `value` as the response body, written by the project's one JSON writer.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }

    static func errorResponse(_ error: APIError) -> Response {
        var response = json(error.json, status: error.status)
        response.headers.append(contentsOf: error.headers)
        return response
    }
}

/// Chosen tokens' log-probabilities in OpenAI's shapes: completions' `{tokens, token_logprobs,
/// top_logprobs, text_offset}` and chat's `{content: [{token, logprob, bytes, top_logprobs}]}`. A
/// token's text is its own decoding; `bytes` is null where that is not whole UTF-8 (a piece of a
/// character). Offsets count Unicode scalars of the choice's text, from where the last report ended.
struct LogprobReport {
    let tokenizer: (any Tokenizer)?
    let chat: Bool
    var offset: Int

    func text(_ token: Int) -> String { tokenizer?.decode([token]) ?? String(token) }

    mutating func json(_ tokens: [TokenLogProbabilities]) -> JSONValue {
        if chat {
            func entry(_ token: Int, _ logprob: Double) -> [(key: String, value: JSONValue)] {
                let piece = text(token)
                return [("token", .string(piece)), ("logprob", .double(logprob)), ("bytes", piece.contains("\u{FFFD}") ? .null : .ints(piece.utf8.map(Int.init)))]
            }
            let content = tokens.map { chosen -> JSONValue in
                .object(entry(chosen.token, chosen.logprob) + [("top_logprobs", .array(chosen.top.map { .object(entry($0.token, $0.logprob)) }))])
            }
            return ["content": .array(content), "refusal": .null]
        }
        var offsets: [Int] = []
        for chosen in tokens {
            offsets.append(offset)
            offset += text(chosen.token).unicodeScalars.count
        }
        // An alternative whose text another before it already has is left out: text is the key.
        let top = tokens.map { chosen -> JSONValue in
            var seen: Set<String> = []
            return .object(chosen.top.compactMap { alternative in
                let piece = text(alternative.token)
                return seen.insert(piece).inserted ? (key: piece, value: .double(alternative.logprob)) : nil
            })
        }
        return ["tokens": .strings(tokens.map { text($0.token) }), "token_logprobs": .array(tokens.map { .double($0.logprob) }),
                "top_logprobs": .array(top), "text_offset": .ints(offsets)]
    }
}
