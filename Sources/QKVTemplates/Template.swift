import Foundation

/// Bounds on what one render may do, since templates come from model files. Each breach is
/// `TemplateError.limitExceeded` naming the limit.
public struct TemplateLimits: Sendable {
    /// Loop iterations over the whole render, all loops together.
    public var maxLoopIterations = 1_000_000
    /// Macro calls in progress at once (recursion).
    public var maxCallDepth = 64
    /// Nesting of blocks and expressions in the source, checked when parsing.
    public var maxNesting = 64
    /// UTF-8 bytes of the output, and of any one string a render builds.
    public var maxOutputBytes = 16 << 20
    /// Items `range()` may make (jinja2's sandbox allows 100,000).
    public var maxRange = 100_000

    public init() {}
}

/// A parsed Jinja template, rendered as transformers' `apply_chat_template` renders chat templates:
/// jinja2's `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the loop-control
/// extension, the globals `raise_exception` and `strftime_now`, and `tojson` as `json.dumps` with
/// `ensure_ascii=False` (Specs/templates.md lists what is supported).
///
/// Parsing is done once; a template renders any number of times, from any thread.
public struct Template: Sendable {
    let nodes: [Node]
    public let limits: TemplateLimits

    /// Parses `source`; a syntax error names its line and column.
    /// - Parameters:
    ///   - source: the template text, as `tokenizer_config.json`'s `chat_template` holds it.
    ///   - limits: bounds on what rendering may cost; parsing checks the nesting depth.
    /// - Throws: `TemplateError.syntax(line:column:message:)`, or `.limitExceeded` for nesting past the limit.
    public init(_ source: String, limits: TemplateLimits = TemplateLimits()) throws {
        let scalars = Lexer.normalize(source)
        var lexer = Lexer(source: scalars, trimBlocks: true, lstripBlocks: true)
        let tokens = try lexer.tokenize()
        var parser = Parser(tokens: tokens, source: scalars, maxNesting: limits.maxNesting)
        nodes = try parser.parseTemplate()
        self.limits = limits
    }

    /// Renders with `context` as the template's variables. `now` is what `strftime_now` formats
    /// (in the current time zone, as Python's `datetime.now()`).
    /// - Returns: the rendered text.
    /// - Throws: `TemplateError`: `.raised` from the template's `raise_exception`, a type or undefined-value
    ///   error with its line, or `.limitExceeded`.
    public func render(_ context: [String: TemplateValue], now: Date = Date()) throws -> String {
        var interpreter = Interpreter(limits: limits, now: now)
        return try interpreter.render(nodes, context: context)
    }

    /// Renders a chat as `apply_chat_template(messages, tools=tools, add_generation_prompt=...)` does:
    /// `tools` and `documents` are passed as `None` when absent, `extra` holds the special tokens
    /// (`bos_token`, `eos_token`, ...) and any other variable the template reads.
    /// - Parameters:
    ///   - messages: the chat, each a dict with `role` and `content` (and whatever else the template reads).
    ///   - tools: the tool definitions (JSON schema dicts), or nil.
    ///   - documents: documents for retrieval templates, or nil.
    ///   - addGenerationPrompt: end with the start of the assistant's turn, for generation.
    ///   - extra: more variables: the special tokens and any other the template reads.
    ///   - now: what `strftime_now` formats.
    /// - Returns: the prompt text, to be tokenized without adding special tokens again.
    /// - Throws: `TemplateError.raised(message:)` when the template refuses the chat; the other
    ///   `TemplateError`s as `render` throws them.
    public func renderChat(
        messages: [TemplateValue],
        tools: [TemplateValue]? = nil,
        documents: [TemplateValue]? = nil,
        addGenerationPrompt: Bool = false,
        extra: [String: TemplateValue] = [:],
        now: Date = Date()
    ) throws -> String {
        var context = extra
        context["messages"] = .array(messages)
        context["tools"] = tools.map(TemplateValue.array) ?? TemplateValue.none
        context["documents"] = documents.map(TemplateValue.array) ?? TemplateValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try render(context, now: now)
    }
}
