/// The parsed template: statements (`Node`) holding expressions (`Expr`). Lines are kept for the
/// errors a render can raise.

indirect enum Expr: Sendable {
    case literal(TemplateValue)
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    /// `a.b` (and `a.0`, which is an item).
    case attribute(Expr, String)
    /// `a[b]`.
    case item(Expr, Expr)
    /// `a[start:stop:step]`.
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, Arguments)
    /// `value | name(args)`; `value` is nil inside `{% filter %}` blocks, where the body is the input.
    case filter(Expr?, String, Arguments)
    /// `value is [not] name(args)`.
    case test(Expr, String, Arguments, negated: Bool)
    case negate(Expr)
    case plus(Expr)
    case not(Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    /// `a < b <= c`: Python's chained comparisons, each operand evaluated once.
    case compare(Expr, [(String, Expr)])
    /// `a if c else b`; without `else` a false condition gives undefined.
    case conditional(Expr, Expr, Expr?)
}

struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

/// What `for` and `set` assign to.
enum Target: Sendable {
    case name(String)
    case tuple([String])
    /// `ns.attribute`: only a namespace takes it.
    case attribute(String, String)
}

/// A `{% macro name(params) %}`: parameters with their default expressions, and the body.
public struct Macro: Sendable {
    var name: String
    var parameters: [(String, Expr?)]
    var body: [Node]
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(target: Target, iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(Target, Expr, line: Int)
    /// `{% set name | filters %}...{% endset %}`: the rendered body, through the filters.
    case setBlock(String, body: [Node], filters: [(String, Arguments)], line: Int)
    case macro(Macro)
    /// `{% filter name %}...{% endfilter %}`.
    case filterBlock([(String, Arguments)], body: [Node], line: Int)
    /// `{% generation %}` (transformers' assistant-mask tag) and `{% with %}` render their body in place.
    case scope(assignments: [(String, Expr)], body: [Node], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}
