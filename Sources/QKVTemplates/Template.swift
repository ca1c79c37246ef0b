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
    public func render(_ context: [String: TemplateValue], now: Date = Date()) throws -> String {
        var interpreter = Interpreter(limits: limits, now: now)
        return try interpreter.render(nodes, context: context)
    }

    /// Renders a chat as `apply_chat_template(messages, tools=tools, add_generation_prompt=...)` does:
    /// `tools` and `documents` are passed as `None` when absent, `extra` holds the special tokens
    /// (`bos_token`, `eos_token`, ...) and any other variable the template reads.
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
