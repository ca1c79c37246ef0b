import Foundation

/// One render: the scopes, the output being built, and the counters the limits check.
///
/// Scoping follows jinja2: `frames[0]` holds the context and the template's top-level assignments; each
/// loop iteration, macro call and `{% with %}` gets a frame of its own, so a `{% set %}` inside them does
/// not outlive them (`namespace()` is how templates carry a value out of a loop); `if` opens no frame.
struct Interpreter {
    let limits: TemplateLimits
    let now: Date
    var frames: [[String: TemplateValue]] = []
    /// Output under construction; macros, `{% set %}` blocks and `{% filter %}` blocks render into a
    /// buffer of their own.
    var buffers: [String] = [""]
    var iterations = 0
    var callDepth = 0
    /// The line of the tag or `{{ }}` being run, for errors.
    var line = 0

    init(limits: TemplateLimits, now: Date) {
        self.limits = limits
        self.now = now
    }

    enum Flow { case normal, breakLoop, continueLoop }

    mutating func render(_ nodes: [Node], context: [String: TemplateValue]) throws -> String {
        frames = [context]
        do {
            let flow = try execute(nodes)
            if flow != .normal { throw TemplateError.typeError("'break' or 'continue' outside a loop").at(line: line) }
        } catch let error as TemplateError {
            throw error.at(line: line)
        }
        return buffers[0]
    }

    // MARK: Output

    mutating func write(_ text: String) throws {
        buffers[buffers.count - 1] += text
        if buffers[buffers.count - 1].utf8.count > limits.maxOutputBytes {
            throw TemplateError.limitExceeded(limit: "output size in bytes", value: limits.maxOutputBytes)
        }
    }

    /// Fails if a string a render built is larger than the output may be (`'a' * n`, doubling in a loop).
    func checkSize(_ s: String) throws -> TemplateValue {
        if s.utf8.count > limits.maxOutputBytes {
            throw TemplateError.limitExceeded(limit: "output size in bytes", value: limits.maxOutputBytes)
        }
        return .string(s)
    }

    /// Renders `nodes` into a buffer of their own and returns the text.
    mutating func capture(_ nodes: [Node]) throws -> (String, Flow) {
        buffers.append("")
        defer { buffers.removeLast() }
        let flow = try execute(nodes)
        return (buffers[buffers.count - 1], flow)
    }

    // MARK: Statements

    mutating func execute(_ nodes: [Node]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                try write(text)
            case .output(let expr, let at):
                line = at
                try write(try evaluate(expr).pyStr)
            case .ifChain(let branches, let otherwise, let at):
                line = at
                var chosen = otherwise
                for (condition, body) in branches {
                    line = at
                    if try evaluate(condition).truthy { chosen = body; break }
                }
                let flow = try execute(chosen)
                if flow != .normal { return flow }
            case .forLoop(let target, let iterable, let condition, let body, let otherwise, let at):
                line = at
                try runLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
            case .set(let target, let expr, let at):
                line = at
                try assign(target, try evaluate(expr))
            case .setBlock(let name, let body, let filters, let at):
                let (text, flow) = try capture(body)
                if flow != .normal { return flow }
                var value = TemplateValue.string(text)
                line = at
                for (filter, arguments) in filters { value = try applyFilter(filter, to: value, arguments) }
                frames[frames.count - 1][name] = value
            case .macro(let macro):
                frames[frames.count - 1][macro.name] = .callable(.macro(macro))
            case .filterBlock(let filters, let body, let at):
                let (text, flow) = try capture(body)
                var value = TemplateValue.string(text)
                line = at
                for (filter, arguments) in filters { value = try applyFilter(filter, to: value, arguments) }
                try write(value.pyStr)
                if flow != .normal { return flow }
            case .scope(let assignments, let body, let at):
                line = at
                var frame: [String: TemplateValue] = [:]
                for (name, expr) in assignments { frame[name] = try evaluate(expr) }
                frames.append(frame)
                defer { frames.removeLast() }
                let flow = try execute(body)
                if flow != .normal { return flow }
            case .breakLoop(let at):
                line = at
                return .breakLoop
            case .continueLoop(let at):
                line = at
                return .continueLoop
            }
        }
        return .normal
    }

    mutating func assign(_ target: Target, _ value: TemplateValue) throws {
        switch target {
        case .name(let name):
            frames[frames.count - 1][name] = value
        case .tuple(let names):
            let items = try unpack(value, count: names.count)
            for (name, item) in zip(names, items) { frames[frames.count - 1][name] = item }
        case .attribute(let object, let attribute):
            guard case .namespace(let ns) = lookup(object) else {
                throw TemplateError.typeError("cannot assign attribute on non-namespace object")
            }
            ns[attribute] = value
        }
    }

    private func unpack(_ value: TemplateValue, count: Int) throws -> [TemplateValue] {
        let items = try iterate(value)
        guard items.count == count else {
            throw TemplateError.typeError(items.count > count ? "too many values to unpack (expected \(count))" : "not enough values to unpack (expected \(count), got \(items.count))")
        }
        return items
    }

    private mutating func countIteration() throws {
        iterations += 1
        if iterations > limits.maxLoopIterations {
            throw TemplateError.limitExceeded(limit: "loop iterations", value: limits.maxLoopIterations)
        }
    }

    private mutating func runLoop(target: Target, iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node]) throws {
        let at = line
        var items = try iterate(try evaluate(iterable))
        if let condition {
            var kept: [TemplateValue] = []
            for item in items {
                try countIteration()
                frames.append([:])
                defer { frames.removeLast() }
                try assign(target, item)
                line = at
                if try evaluate(condition).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try execute(otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            try countIteration()
            var loop = TemplateDict()
            loop["index"] = .int(i + 1)
            loop["index0"] = .int(i)
            loop["revindex"] = .int(items.count - i)
            loop["revindex0"] = .int(items.count - i - 1)
            loop["first"] = .bool(i == 0)
            loop["last"] = .bool(i == items.count - 1)
            loop["length"] = .int(items.count)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            if i > 0 { loop["previtem"] = items[i - 1] }
            if i + 1 < items.count { loop["nextitem"] = items[i + 1] }
            loop["cycle"] = .callable(.cycle(i))
            frames.append(["loop": .dict(loop)])
            defer { frames.removeLast() }
            try assign(target, item)
            let flow = try execute(body)
            if flow == .breakLoop { break }
        }
    }

    /// What `for` walks: a list's items, a dict's keys, a string's characters; undefined is empty.
    func iterate(_ value: TemplateValue) throws -> [TemplateValue] {
        switch value {
        case .array(let a): return a
        case .dict(let d): return d.keys.map(TemplateValue.string)
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError.typeError("'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: Names, attributes and items

    func lookup(_ name: String) -> TemplateValue {
        for frame in frames.reversed() {
            if let value = frame[name] { return value }
        }
        if Interpreter.globalNames.contains(name) { return .callable(.global(name)) }
        return .undefined(hint: "'\(name)' is undefined")
    }

    static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy", "pop", "popitem", "setdefault", "update", "clear", "fromkeys"]
    static let otherStringMethods: Set<String> = [
        "zfill", "center", "ljust", "rjust", "swapcase", "expandtabs", "partition", "rpartition", "encode", "index", "rindex",
        "isnumeric", "isdecimal", "istitle", "isidentifier", "isprintable", "isascii", "translate", "maketrans", "format_map",
    ]
    static let listMethods: Set<String> = ["index", "count", "copy", "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"]

    /// `object.name`, as jinja2's `getattr`: the attribute (a method here) first, then the item.
    func attribute(_ object: TemplateValue, _ name: String) throws -> TemplateValue {
        switch object {
        case .undefined(let hint): throw TemplateError.undefined(message: hint, line: 0)
        case .dict(let d):
            if Interpreter.dictMethods.contains(name) { return .callable(.method(object, name)) }
            return d[name] ?? .undefined(hint: "'dict object' has no attribute '\(name)'")
        case .namespace(let ns):
            return ns[name] ?? .undefined(hint: "'Namespace object' has no attribute '\(name)'")
        case .string:
            // Python's other str methods are callables too, so that calling one names it as unsupported.
            if Interpreter.stringMethods.contains(name) || Interpreter.otherStringMethods.contains(name) { return .callable(.method(object, name)) }
        case .array:
            if Interpreter.listMethods.contains(name) { return .callable(.method(object, name)) }
        default: break
        }
        return .undefined(hint: "'\(object.typeName) object' has no attribute '\(name)'")
    }

    /// `object[key]`, as jinja2's `getitem`: the item first, then for a string key the attribute.
    func item(_ object: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        switch (object, key) {
        case (.undefined(let hint), _): throw TemplateError.undefined(message: hint, line: 0)
        case (.dict(let d), .string(let k)):
            return d[k] ?? .undefined(hint: "'dict object' has no attribute '\(k)'")
        case (.array(let a), _):
            if let i = integerIndex(key) {
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return a[j] }
                return .undefined(hint: "list object has no element \(i)")
            }
        case (.string(let s), _):
            if let i = integerIndex(key) {
                let scalars = Array(s.unicodeScalars)
                let j = i < 0 ? i + scalars.count : i
                if j >= 0 && j < scalars.count { return .string(String(scalars[j])) }
                return .undefined(hint: "str object has no element \(i)")
            }
        default: break
        }
        if case .string(let k) = key { return try attribute(object, k) }
        return .undefined(hint: "'\(object.typeName) object' has no attribute \(key.pyRepr)")
    }

    private func integerIndex(_ v: TemplateValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// `object[start:stop:step]` with Python's rules for negative and missing bounds.
    func slice(_ object: TemplateValue, _ start: TemplateValue, _ stop: TemplateValue, _ step: TemplateValue) throws -> TemplateValue {
        func bound(_ v: TemplateValue) throws -> Int? {
            switch v {
            case .none, .undefined: return nil
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            default: throw TemplateError.typeError("slice indices must be integers or None")
            }
        }
        let step = try bound(step) ?? 1
        guard step != 0 else { throw TemplateError.typeError("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ v: Int?, _ defaultValue: Int) -> Int {
                guard var v else { return defaultValue }
                if v < 0 { v += count }
                if step > 0 { return min(max(v, 0), count) }
                return min(max(v, -1), count - 1)
            }
            let from = clamp(try bound(start), step > 0 ? 0 : count - 1)
            let to = clamp(try bound(stop), step > 0 ? count : -1)
            return Array(stride(from: from, to: to, by: step))
        }
        switch object {
        case .array(let a): return .array(try indices(a.count).map { a[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var view = String.UnicodeScalarView()
            for i in try indices(scalars.count) { view.append(scalars[i]) }
            return .string(String(view))
        case .undefined(let hint): throw TemplateError.undefined(message: hint, line: 0)
        default: throw TemplateError.typeError("'\(object.typeName)' object is not subscriptable")
        }
    }

    // MARK: Expressions

    mutating func evaluate(_ expr: Expr) throws -> TemplateValue {
        switch expr {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try evaluate($0) })
        case .dict(let pairs):
            var d = TemplateDict()
            for (k, v) in pairs {
                guard case .string(let key) = try evaluate(k) else { throw TemplateError.typeError("dict keys must be strings here") }
                d[key] = try evaluate(v)
            }
            return .dict(d)
        case .attribute(let object, let name): return try attribute(try evaluate(object), name)
        case .item(let object, let key): return try item(try evaluate(object), try evaluate(key))
        case .slice(let object, let start, let stop, let step):
            let o = try evaluate(object)
            return try slice(o, try start.map { try evaluate($0) } ?? .none, try stop.map { try evaluate($0) } ?? .none, try step.map { try evaluate($0) } ?? .none)
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            let (positional, keyword) = try evaluateArguments(arguments)
            return try call(function, positional, keyword)
        case .filter(let input, let name, let arguments):
            return try applyFilter(name, to: try input.map { try evaluate($0) } ?? .none, arguments)
        case .test(let value, let name, let arguments, let negated):
            let v = try evaluate(value)
            let (positional, keyword) = try evaluateArguments(arguments)
            let result = try applyTest(name, v, positional, keyword)
            return .bool(result != negated)
        case .negate(let operand):
            switch try evaluate(operand) {
            case .int(let i): return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case .undefined(let hint): throw TemplateError.undefined(message: hint, line: 0)
            case let other: throw TemplateError.typeError("bad operand type for unary -: '\(other.typeName)'")
            }
        case .plus(let operand):
            switch try evaluate(operand) {
            case .int, .double: return try evaluate(operand)
            case .bool(let b): return .int(b ? 1 : 0)
            case .undefined(let hint): throw TemplateError.undefined(message: hint, line: 0)
            case let other: throw TemplateError.typeError("bad operand type for unary +: '\(other.typeName)'")
            }
        case .not(let operand): return .bool(!(try evaluate(operand).truthy))
        case .and(let a, let b):
            let left = try evaluate(a)
            return left.truthy ? try evaluate(b) : left
        case .or(let a, let b):
            let left = try evaluate(a)
            return left.truthy ? left : try evaluate(b)
        case .conditional(let condition, let value, let otherwise):
            if try evaluate(condition).truthy { return try evaluate(value) }
            return try otherwise.map { try evaluate($0) } ?? .undefined(hint: "the inline if expression evaluated to false and no else section was defined")
        case .binary(let op, let a, let b):
            return try binary(op, try evaluate(a), try evaluate(b))
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (op, operand) in operations {
                let right = try evaluate(operand)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        }
    }

    mutating func evaluateArguments(_ arguments: Arguments) throws -> ([TemplateValue], [(String, TemplateValue)]) {
        let positional = try arguments.positional.map { try evaluate($0) }
        let keyword = try arguments.keyword.map { ($0.0, try evaluate($0.1)) }
        return (positional, keyword)
    }

    func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if op == "~" { return try checkSize(a.pyStr + b.pyStr) }
        if case .undefined(let hint) = a { throw TemplateError.undefined(message: hint, line: 0) }
        if case .undefined(let hint) = b { throw TemplateError.undefined(message: hint, line: 0) }
        let unsupported = TemplateError.typeError("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        func overflow() -> TemplateError { .typeError("integer overflow in \(op)") }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return try checkSize(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard case .ints(let x, let y)? = numericPair(a.isString ? .int(0) : a, b.isString ? .int(0) : b) else { throw unsupported }
            let n = a.isString ? y : x
            guard n <= 0 || s.utf8.count <= limits.maxOutputBytes / n else {
                throw TemplateError.limitExceeded(limit: "output size in bytes", value: limits.maxOutputBytes)
            }
            return .string(String(repeating: s, count: max(n, 0)))
        case ("*", .array(let items), _), ("*", _, .array(let items)):
            guard case .ints(let x, let y)? = numericPair(a.isArray ? .int(0) : a, b.isArray ? .int(0) : b) else { throw unsupported }
            let n = a.isArray ? y : x
            guard n <= 0 || items.count <= limits.maxOutputBytes / n else {
                throw TemplateError.limitExceeded(limit: "output size in bytes", value: limits.maxOutputBytes)
            }
            return .array(Array([[TemplateValue]](repeating: items, count: max(n, 0)).joined()))
        default: break
        }
        guard let pair = numericPair(a, b) else { throw unsupported }
        switch pair {
        case .ints(let x, let y):
            switch op {
            case "+": let (r, o) = x.addingReportingOverflow(y); if o { throw overflow() }; return .int(r)
            case "-": let (r, o) = x.subtractingReportingOverflow(y); if o { throw overflow() }; return .int(r)
            case "*": let (r, o) = x.multipliedReportingOverflow(by: y); if o { throw overflow() }; return .int(r)
            case "/":
                guard y != 0 else { throw TemplateError.typeError("division by zero") }
                return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw TemplateError.typeError("integer division or modulo by zero") }
                if x == Int.min && y == -1 { throw overflow() }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw TemplateError.typeError("integer division or modulo by zero") }
                if y == -1 { return .int(0) }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                var result = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { let (r, o) = result.multipliedReportingOverflow(by: base); if o { throw overflow() }; result = r }
                    e >>= 1
                    if e > 0 { let (r, o) = base.multipliedReportingOverflow(by: base); if o { throw overflow() }; base = r }
                }
                return .int(result)
            default: throw unsupported
            }
        case .doubles(let x, let y):
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw TemplateError.typeError("float division by zero") }
                return .double(x / y)
            case "//":
                guard y != 0 else { throw TemplateError.typeError("float floor division by zero") }
                return .double((x / y).rounded(.down))
            case "%":
                guard y != 0 else { throw TemplateError.typeError("float modulo") }
                let r = fmod(x, y)
                return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**": return .double(pow(x, y))
            default: throw unsupported
            }
        }
    }

    func compare(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
        switch op {
        case "==": return a.pyEquals(b)
        case "!=": return !a.pyEquals(b)
        case "in": return try contains(b, a)
        case "notin": return !(try contains(b, a))
        default:
            let order = try pyCompare(a, b, op: op)
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    /// Python's ordering of two values: -1, 0 or 1; a type error where Python has no order.
    func pyCompare(_ a: TemplateValue, _ b: TemplateValue, op: String = "<") throws -> Int {
        if case .undefined(let hint) = a { throw TemplateError.undefined(message: hint, line: 0) }
        if case .undefined(let hint) = b { throw TemplateError.undefined(message: hint, line: 0) }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.array(let x), .array(let y)):
            for (p, q) in zip(x, y) where !p.pyEquals(q) { return try pyCompare(p, q, op: op) }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            guard let pair = numericPair(a, b) else {
                throw TemplateError.typeError("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            switch pair {
            case .ints(let x, let y): return x == y ? 0 : (x < y ? -1 : 1)
            case .doubles(let x, let y): return x == y ? 0 : (x < y ? -1 : 1)
            }
        }
    }

    /// Python's `needle in container`.
    func contains(_ container: TemplateValue, _ needle: TemplateValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw TemplateError.typeError("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || s.unicodeScalars.firstRange(of: n.unicodeScalars) != nil
        case .array(let a): return a.contains { $0.pyEquals(needle) }
        case .dict(let d):
            if case .string(let k) = needle { return d[k] != nil }
            return false
        case .undefined: return false
        default: throw TemplateError.typeError("argument of type '\(container.typeName)' is not iterable")
        }
    }

    // MARK: Calls

    mutating func call(_ function: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        switch function {
        case .callable(.macro(let macro)): return try callMacro(macro, positional, keyword)
        case .callable(.global(let name)): return try callGlobal(name, positional, keyword)
        case .callable(.method(let receiver, let name)): return try callMethod(receiver, name, positional, keyword)
        case .callable(.cycle(let index)):
            guard !positional.isEmpty else { throw TemplateError.typeError("no items for cycling given") }
            return positional[index % positional.count]
        case .undefined(let hint): throw TemplateError.undefined(message: hint, line: 0)
        default: throw TemplateError.typeError("'\(function.typeName)' object is not callable")
        }
    }

    private mutating func callMacro(_ macro: Macro, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxCallDepth {
            throw TemplateError.limitExceeded(limit: "macro call depth", value: limits.maxCallDepth)
        }
        var frame: [String: TemplateValue] = [:]
        var extraKeywords = TemplateDict()
        for (name, value) in keyword {
            if macro.parameters.contains(where: { $0.0 == name }) { frame[name] = value } else { extraKeywords[name] = value }
        }
        let extraPositional = positional.count > macro.parameters.count ? Array(positional[macro.parameters.count...]) : []
        for (i, value) in positional.prefix(macro.parameters.count).enumerated() {
            let name = macro.parameters[i].0
            if frame[name] != nil { throw TemplateError.typeError("macro '\(macro.name)' got multiple values for argument '\(name)'") }
            frame[name] = value
        }
        frame["varargs"] = .array(extraPositional)
        frame["kwargs"] = .dict(extraKeywords)
        let saved = frames
        let savedLine = line
        frames = [frames[0], frame]
        defer { frames = saved; line = savedLine }
        // Defaults are evaluated at the call, in the macro's scope, after the arguments before them.
        for (name, defaultExpr) in macro.parameters where frames[1][name] == nil {
            frames[1][name] = try defaultExpr.map { try evaluate($0) } ?? .undefined(hint: "parameter '\(name)' was not provided")
        }
        let (text, flow) = try capture(macro.body)
        if flow != .normal { throw TemplateError.typeError("'break' or 'continue' outside a loop") }
        return .string(text)
    }
}

extension TemplateValue {
    var isString: Bool { if case .string = self { return true } else { return false } }
    var isArray: Bool { if case .array = self { return true } else { return false } }
}
