/// Everything that can go wrong parsing or rendering a template. Parse errors carry the line and column
/// (both from 1, columns in Unicode scalars); render errors carry the line of the tag or `{{ }}` at fault.
public enum TemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The template's syntax is wrong at `line`:`column`.
    case syntax(line: Int, column: Int, message: String)
    /// The template called `raise_exception(message)`: the chat is not one this template accepts.
    case raised(message: String)
    /// A filter the interpreter does not have (`name`), at `line`.
    case unknownFilter(name: String, line: Int)
    /// A test (`x is name`) the interpreter does not have, at `line`.
    case unknownTest(name: String, line: Int)
    /// A method of a string, list or dict that the interpreter does not have (or that would change the
    /// object: templates render in jinja2's immutable sandbox), on `type`, at `line`.
    case unknownMethod(type: String, name: String, line: Int)
    /// An operation on an undefined value that jinja2 refuses (attribute of an undefined, arithmetic), at `line`.
    case undefined(message: String, line: Int)
    /// A value of the wrong type for an operation, filter or call, at `line`.
    case type(message: String, line: Int)
    /// A limit for untrusted templates was reached: `limit` names it, `value` is its setting.
    case limitExceeded(limit: String, value: Int)
    /// `TemplateValue(json:)` was given text that is not JSON: `offset` is the UTF-8 byte where it stops being JSON.
    case invalidJSON(offset: Int, reason: String)

    /// A type error whose line the interpreter fills in.
    static func typeError(_ message: String) -> TemplateError { .type(message: message, line: 0) }

    /// The same error at `line`, where it carries a line not yet known.
    func at(line: Int) -> TemplateError {
        switch self {
        case .unknownFilter(let n, 0): return .unknownFilter(name: n, line: line)
        case .unknownTest(let n, 0): return .unknownTest(name: n, line: line)
        case .unknownMethod(let t, let n, 0): return .unknownMethod(type: t, name: n, line: line)
        case .undefined(let m, 0): return .undefined(message: m, line: line)
        case .type(let m, 0): return .type(message: m, line: line)
        default: return self
        }
    }

    public var description: String {
        switch self {
        case .syntax(let line, let column, let message): return "template syntax error at line \(line), column \(column): \(message)"
        case .raised(let message): return message
        case .unknownFilter(let name, let line): return "template line \(line): no filter named '\(name)'"
        case .unknownTest(let name, let line): return "template line \(line): no test named '\(name)'"
        case .unknownMethod(let type, let name, let line): return "template line \(line): '\(type)' has no method '\(name)' here"
        case .undefined(let message, let line): return "template line \(line): \(message)"
        case .type(let message, let line): return "template line \(line): \(message)"
        case .limitExceeded(let limit, let value): return "template exceeds its limit on \(limit) (\(value))"
        case .invalidJSON(let offset, let reason): return "invalid JSON at offset \(offset): \(reason)"
        }
    }
}
