/// Tokens to statements and expressions, with jinja2's grammar and precedence: conditional
/// `a if c else b` < `or` < `and` < `not` < comparisons and `in` < `+ -` < `~` < `* / // %` < `**` <
/// unary `- +` < filters `|` and tests `is` < `.`, `[]`, `()`.
struct Parser {
    private let tokens: [Token]
    private let src: [Unicode.Scalar]
    private var index = 0
    private var depth = 0
    private let maxNesting: Int

    init(tokens: [Token], source: [Unicode.Scalar], maxNesting: Int) {
        self.tokens = tokens
        self.src = source
        self.maxNesting = maxNesting
    }

    private var current: Token { tokens[index] }
    private var kind: Token.Kind { tokens[index].kind }

    private func error(_ message: String, at token: Token? = nil) -> TemplateError {
        let (line, column) = Lexer.position(of: (token ?? current).offset, in: src)
        return .syntax(line: line, column: column, message: message)
    }

    private func line(of token: Token) -> Int { Lexer.position(of: token.offset, in: src).line }

    private func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .text: return "text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "string literal"
        case .integer, .float: return "number"
        case .op(let o): return "'\(o)'"
        case .end: return "end of template"
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > maxNesting { throw TemplateError.limitExceeded(limit: "nesting depth", value: maxNesting) }
    }

    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    private func isOp(_ op: String) -> Bool { kind == .op(op) }
    private func isName(_ name: String) -> Bool { kind == .name(name) }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw error("expected '\(op)', found \(describe(kind))") }
        advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = kind else { throw error("expected a name, found \(describe(kind))") }
        advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard kind == .blockEnd else { throw error("expected '%}', found \(describe(kind))") }
        advance()
    }

    // MARK: Statements

    mutating func parseTemplate() throws -> [Node] {
        let (nodes, end) = try parseNodes(until: [])
        if let end { throw error("unexpected '\(end)'") }
        return nodes
    }

    /// Nodes up to a `{% tag %}` whose name is in `ends` (returned, its tag not yet consumed past the
    /// name), or the end of the template (nil).
    private mutating func parseNodes(until ends: Set<String>) throws -> ([Node], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !ends.isEmpty { throw error("unexpected end of template, expected one of \(ends.sorted().map { "'\($0)'" }.joined(separator: ", "))") }
                return (nodes, nil)
            case .text(let t):
                nodes.append(.text(t))
                advance()
            case .variableBegin:
                advance()
                let expr = try parseTuple()
                guard kind == .variableEnd else { throw error("expected '}}', found \(describe(kind))") }
                advance()
                nodes.append(.output(expr, line: line(of: token)))
            case .blockBegin:
                advance()
                guard case .name(let tag) = kind else { throw error("expected a tag name, found \(describe(kind))") }
                if ends.contains(tag) { advance(); return (nodes, tag) }
                nodes.append(try parseStatement(tag, at: token))
            default:
                throw error("unexpected \(describe(token.kind))")
            }
        }
    }

    private mutating func parseStatement(_ tag: String, at start: Token) throws -> Node {
        let line = line(of: start)
        advance()
        switch tag {
        case "if":
            var branches: [(Expr, [Node])] = []
            var condition = try parseExpression()
            try expectBlockEnd()
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                switch end {
                case "elif":
                    condition = try parseExpression()
                    try expectBlockEnd()
                case "else":
                    try expectBlockEnd()
                    let (otherwise, _) = try parseNodes(until: ["endif"])
                    try expectBlockEnd()
                    return .ifChain(branches, otherwise: otherwise, line: line)
                default:
                    try expectBlockEnd()
                    return .ifChain(branches, otherwise: [], line: line)
                }
            }
        case "for":
            let target = try parseTarget(allowAttribute: false)
            guard isName("in") else { throw error("expected 'in', found \(describe(kind))") }
            advance()
            let iterable = try parseTuple(conditional: false)
            var condition: Expr? = nil
            if isName("if") { advance(); condition = try parseExpression() }
            if isName("recursive") { throw error("recursive loops are not supported") }
            try expectBlockEnd()
            let (body, end) = try parseNodes(until: ["else", "endfor"])
            var otherwise: [Node] = []
            try expectBlockEnd()
            if end == "else" {
                (otherwise, _) = try parseNodes(until: ["endfor"])
                try expectBlockEnd()
            }
            return .forLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)
        case "set":
            let target = try parseTarget(allowAttribute: true)
            if isOp("=") {
                advance()
                let value = try parseTuple()
                try expectBlockEnd()
                return .set(target, value, line: line)
            }
            guard case .name(let name) = target else { throw error("a block set assigns one name") }
            var filters: [(String, Arguments)] = []
            while isOp("|") {
                advance()
                filters.append(try parseFilterCall())
            }
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endset"])
            try expectBlockEnd()
            return .setBlock(name, body: body, filters: filters, line: line)
        case "macro":
            let name = try expectName()
            try expectOp("(")
            var parameters: [(String, Expr?)] = []
            while !isOp(")") {
                if !parameters.isEmpty { try expectOp(",") }
                if isOp(")") { break }
                let parameter = try expectName()
                var defaultValue: Expr? = nil
                if isOp("=") { advance(); defaultValue = try parseExpression() }
                parameters.append((parameter, defaultValue))
            }
            advance()
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endmacro"])
            if case .name = kind { advance() }  // `{% endmacro name %}`
            try expectBlockEnd()
            return .macro(Macro(name: name, parameters: parameters, body: body))
        case "filter":
            var filters = [try parseFilterCall()]
            while isOp("|") {
                advance()
                filters.append(try parseFilterCall())
            }
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters, body: body, line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endgeneration"])
            try expectBlockEnd()
            return .scope(assignments: [], body: body, line: line)
        case "with":
            var assignments: [(String, Expr)] = []
            while kind != .blockEnd {
                if !assignments.isEmpty { try expectOp(",") }
                let name = try expectName()
                try expectOp("=")
                assignments.append((name, try parseExpression()))
            }
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endwith"])
            try expectBlockEnd()
            return .scope(assignments: assignments, body: body, line: line)
        case "break":
            try expectBlockEnd()
            return .breakLoop(line: line)
        case "continue":
            try expectBlockEnd()
            return .continueLoop(line: line)
        default:
            throw error("unknown tag '\(tag)'", at: tokens[index - 1])
        }
    }

    private mutating func parseTarget(allowAttribute: Bool) throws -> Target {
        let first = try expectName()
        if allowAttribute && isOp(".") {
            advance()
            return .attribute(first, try expectName())
        }
        guard isOp(",") else { return .name(first) }
        var names = [first]
        while isOp(",") {
            advance()
            guard case .name = kind else { break }
            names.append(try expectName())
        }
        return .tuple(names)
    }

    private mutating func parseFilterCall() throws -> (String, Arguments) {
        var name = try expectName()
        while isOp(".") { advance(); name += "." + (try expectName()) }
        var arguments = Arguments()
        if isOp("(") { arguments = try parseArguments() }
        return (name, arguments)
    }

    // MARK: Expressions

    /// Expressions separated by commas form a tuple (a list here); one expression stands alone.
    private mutating func parseTuple(conditional: Bool = true) throws -> Expr {
        var items: [Expr] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard isOp(",") else { break }
                advance()
                sawComma = true
                if kind == .variableEnd || kind == .blockEnd || isOp(")") || isName("in") || isName("if") { break }
            }
            items.append(conditional ? try parseExpression() : try parseOr())
        }
        return sawComma ? .list(items) : items[0]
    }

    mutating func parseExpression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        let value = try parseOr()
        guard isName("if") else { return value }
        advance()
        let condition = try parseOr()
        var otherwise: Expr? = nil
        if isName("else") {
            advance()
            otherwise = try parseExpression()
        }
        return .conditional(condition, value, otherwise)
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while isName("or") { advance(); left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while isName("and") { advance(); left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            advance()
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let left = try parseMath1()
        var operations: [(String, Expr)] = []
        while true {
            if case .op(let op) = kind, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
                advance()
                operations.append((op, try parseMath1()))
            } else if isName("in") {
                advance()
                operations.append(("in", try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                advance(); advance()
                operations.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while case .op(let op) = kind, op == "+" || op == "-" {
            advance()
            left = .binary(op, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var left = try parseMath2()
        while isOp("~") { advance(); left = .binary("~", left, try parseMath2()) }
        return left
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while case .op(let op) = kind, ["*", "/", "//", "%"].contains(op) {
            advance()
            left = .binary(op, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        while isOp("**") { advance(); left = .binary("**", left, try parseUnary()) }
        return left
    }

    private mutating func parseUnary(withFilters: Bool = true) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var node: Expr
        if isOp("-") {
            advance()
            node = .negate(try parseUnary(withFilters: false))
        } else if isOp("+") {
            advance()
            node = .plus(try parseUnary(withFilters: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilters { node = try parseFiltersAndTests(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            advance()
            // Adjacent string literals join, as in Python.
            while case .string(let more) = kind { s += more; advance() }
            return .literal(.string(s))
        case .integer(let i):
            advance()
            return .literal(.int(i))
        case .float(let d):
            advance()
            return .literal(.double(d))
        case .op("("):
            advance()
            if isOp(")") { advance(); return .list([]) }
            let inner = try parseTuple()
            try expectOp(")")
            return inner
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(","); if isOp("]") { break } }
                items.append(try parseExpression())
            }
            advance()
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(","); if isOp("}") { break } }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            advance()
            return .dict(pairs)
        default:
            throw error("unexpected \(describe(token.kind))")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if isOp(".") {
                advance()
                switch kind {
                case .name(let n): advance(); node = .attribute(node, n)
                case .integer(let i): advance(); node = .item(node, .literal(.int(i)))
                default: throw error("expected an attribute name, found \(describe(kind))")
                }
            } else if isOp("[") {
                advance()
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = .call(node, try parseArguments())
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ target: Expr) throws -> Expr {
        var parts: [Expr?] = []
        var isSlice = false
        var currentPart: Expr? = nil
        while !isOp("]") {
            if isOp(":") {
                isSlice = true
                parts.append(currentPart)
                currentPart = nil
                advance()
            } else {
                guard currentPart == nil else { throw error("expected ']' or ':', found \(describe(kind))") }
                currentPart = try parseExpression()
            }
        }
        advance()
        parts.append(currentPart)
        guard isSlice else {
            guard let only = parts[0] else { throw error("expected a subscript") }
            return .item(target, only)
        }
        guard parts.count <= 3 else { throw error("a slice has at most three parts") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(target, parts[0], parts[1], parts[2])
    }

    private mutating func parseArguments() throws -> Arguments {
        try expectOp("(")
        var arguments = Arguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(","); if isOp(")") { break } }
            first = false
            if case .name(let n) = kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                advance(); advance()
                arguments.keyword.append((n, try parseExpression()))
            } else {
                if !arguments.keyword.isEmpty { throw error("a positional argument follows a keyword argument") }
                arguments.positional.append(try parseExpression())
            }
        }
        advance()
        return arguments
    }

    private mutating func parseFiltersAndTests(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if isOp("|") {
                advance()
                let (name, arguments) = try parseFilterCall()
                node = .filter(node, name, arguments)
            } else if isName("is") {
                advance()
                var negated = false
                if isName("not") { advance(); negated = true }
                var name = try expectName()
                while isOp(".") { advance(); name += "." + (try expectName()) }
                var arguments = Arguments()
                if isOp("(") {
                    arguments = try parseArguments()
                } else if startsBareTestArgument() {
                    // `x is divisibleby 3`, `x is equalto 'a'`: one argument without parentheses.
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name, arguments, negated: negated)
            } else if isOp("(") {
                node = .call(node, try parseArguments())
            } else {
                return node
            }
        }
    }

    private func startsBareTestArgument() -> Bool {
        switch kind {
        case .name(let n): return !["else", "or", "and"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "(" || o == "[" || o == "{"
        default: return false
        }
    }
}
