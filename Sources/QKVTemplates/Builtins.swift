import Foundation

/// Arguments of a filter, test, global or method call, matched to parameter names as Python binds
/// them: positional first, then by keyword, then the default.
struct Bound {
    let callee: String
    let positional: [TemplateValue]
    let keyword: [(String, TemplateValue)]
    let names: [String]

    init(_ callee: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)], names: [String]) throws {
        self.callee = callee
        self.positional = positional
        self.keyword = keyword
        self.names = names
        if positional.count > names.count {
            throw TemplateError.typeError("\(callee)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        for (name, _) in keyword where !names.contains(name) {
            throw TemplateError.typeError("\(callee)() got an unexpected keyword argument '\(name)'")
        }
    }

    subscript(_ name: String) -> TemplateValue? {
        let i = names.firstIndex(of: name)!
        if i < positional.count { return positional[i] }
        return keyword.last { $0.0 == name }?.1
    }

    func string(_ name: String, _ defaultValue: String? = nil) throws -> String? {
        guard let v = self[name], !(v.isNone) else { return defaultValue }
        guard case .string(let s) = v else { throw TemplateError.typeError("\(callee)(): '\(name)' must be a string, not \(v.typeName)") }
        return s
    }

    func int(_ name: String, _ defaultValue: Int? = nil) throws -> Int? {
        guard let v = self[name], !(v.isNone) else { return defaultValue }
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: throw TemplateError.typeError("\(callee)(): '\(name)' must be an integer, not \(v.typeName)")
        }
    }

    func bool(_ name: String, _ defaultValue: Bool) -> Bool { self[name].map(\.truthy) ?? defaultValue }
}

extension TemplateValue {
    var isNone: Bool { if case .none = self { return true } else { return false } }
}

extension Interpreter {
    static let globalNames: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now"]
    static let stringMethods: Set<String> = [
        "upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
        "replace", "startswith", "endswith", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum",
        "isspace", "islower", "isupper", "removeprefix", "removesuffix", "format", "casefold",
    ]

    // MARK: Globals

    mutating func callGlobal(_ name: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        switch name {
        case "raise_exception":
            let args = try Bound(name, positional, keyword, names: ["message"])
            throw TemplateError.raised(message: args["message"]?.pyStr ?? "")
        case "strftime_now":
            let args = try Bound(name, positional, keyword, names: ["format"])
            return .string(strftime(try args.string("format") ?? "", now))
        case "range":
            guard keyword.isEmpty, (1...3).contains(positional.count) else { throw TemplateError.typeError("range() takes 1 to 3 integer arguments") }
            let ints = try positional.map { v -> Int in
                switch v {
                case .int(let i): return i
                case .bool(let b): return b ? 1 : 0
                default: throw TemplateError.typeError("'\(v.typeName)' object cannot be interpreted as an integer")
                }
            }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw TemplateError.typeError("range() arg 3 must not be zero") }
            let count = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0)
            guard count <= limits.maxRange else { throw TemplateError.limitExceeded(limit: "range size", value: limits.maxRange) }
            return .array((0..<count).map { .int(start + $0 * step) })
        case "namespace", "dict":
            var attributes = TemplateDict()
            for value in positional {
                guard case .dict(let d) = value else { throw TemplateError.typeError("\(name)() takes a dict as positional argument") }
                for (k, v) in d.pairs { attributes[k] = v }
            }
            for (k, v) in keyword { attributes[k] = v }
            return name == "dict" ? .dict(attributes) : .namespace(Namespace(attributes))
        default:
            throw TemplateError.typeError("'\(name)' is not callable")
        }
    }

    // MARK: Methods

    mutating func callMethod(_ receiver: TemplateValue, _ name: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        let callee = "\(receiver.typeName).\(name)"
        switch receiver {
        case .dict(let d):
            switch name {
            case "items":
                _ = try Bound(callee, positional, keyword, names: [])
                return .array(d.pairs.map { .array([.string($0.0), $0.1]) })
            case "keys":
                _ = try Bound(callee, positional, keyword, names: [])
                return .array(d.keys.map(TemplateValue.string))
            case "values":
                _ = try Bound(callee, positional, keyword, names: [])
                return .array(d.values)
            case "get":
                let args = try Bound(callee, positional, keyword, names: ["key", "default"])
                guard let key = args["key"] else { throw TemplateError.typeError("get expected at least 1 argument, got 0") }
                if case .string(let k) = key, let v = d[k] { return v }
                return args["default"] ?? .none
            case "copy":
                return receiver
            default: break
            }
        case .array(let items):
            switch name {
            case "index":
                let args = try Bound(callee, positional, keyword, names: ["value"])
                if let value = args["value"], let i = items.firstIndex(where: { $0.pyEquals(value) }) { return .int(i) }
                throw TemplateError.typeError("value is not in list")
            case "count":
                let args = try Bound(callee, positional, keyword, names: ["value"])
                return .int(items.filter { $0.pyEquals(args["value"] ?? .none) }.count)
            case "copy":
                return receiver
            default: break
            }
        case .string(let s):
            if name == "format" { return try checkSize(pythonFormat(s, positional, keyword)) }
            guard Interpreter.stringMethods.contains(name) else { break }
            return try stringMethod(s, name, try Bound(callee, positional, keyword, names: Interpreter.stringParameters[name] ?? []))
        default: break
        }
        // The rest change the object (which jinja2's immutable sandbox refuses) or are not implemented.
        throw TemplateError.unknownMethod(type: receiver.typeName, name: name, line: 0)
    }

    static let stringParameters: [String: [String]] = [
        "strip": ["chars"], "lstrip": ["chars"], "rstrip": ["chars"],
        "split": ["sep", "maxsplit"], "rsplit": ["sep", "maxsplit"], "splitlines": ["keepends"],
        "replace": ["old", "new", "count"], "startswith": ["prefix", "start", "end"], "endswith": ["suffix", "start", "end"],
        "find": ["sub"], "rfind": ["sub"], "count": ["sub"], "join": ["iterable"],
        "removeprefix": ["prefix"], "removesuffix": ["suffix"],
    ]

    private func stringMethod(_ s: String, _ name: String, _ args: Bound) throws -> TemplateValue {
        func required(_ p: String) throws -> String {
            guard let v = try args.string(p) else { throw TemplateError.typeError("\(args.callee)() missing argument '\(p)'") }
            return v
        }
        switch name {
        case "upper": return .string(s.uppercased())
        case "lower", "casefold": return .string(s.lowercased())
        case "title": return .string(pythonTitle(s))
        case "capitalize": return .string(pythonCapitalize(s))
        case "strip": return .string(s.pyStrip(try args.string("chars")))
        case "lstrip": return .string(s.pyStrip(try args.string("chars"), trailing: false))
        case "rstrip": return .string(s.pyStrip(try args.string("chars"), leading: false))
        case "split", "rsplit":
            let parts = try pythonSplit(s, separator: try args.string("sep"), maxSplit: try args.int("maxsplit", -1)!, fromRight: name == "rsplit")
            return .array(parts.map(TemplateValue.string))
        case "splitlines":
            return .array(pythonSplitLines(s, keepEnds: args.bool("keepends", false)).map(TemplateValue.string))
        case "replace":
            return try checkSize(pythonReplace(s, try required("old"), try required("new"), count: try args.int("count", -1)!))
        case "startswith", "endswith":
            let key = name == "startswith" ? "prefix" : "suffix"
            var candidates: [String] = []
            switch args[key] {
            case .string(let p)?: candidates = [p]
            case .array(let items)?:
                candidates = try items.map { guard case .string(let p) = $0 else { throw TemplateError.typeError("\(name) takes strings") }; return p }
            default: throw TemplateError.typeError("\(name) first arg must be str or a tuple of str")
            }
            let scalars = Array(s.unicodeScalars)
            let start = try args.int("start", 0)!, end = try args.int("end", scalars.count)!
            func norm(_ i: Int) -> Int { min(max(i < 0 ? i + scalars.count : i, 0), scalars.count) }
            let window = norm(start) <= norm(end) ? Array(scalars[norm(start)..<norm(end)]) : []
            return .bool(candidates.contains { c in
                let p = Array(c.unicodeScalars)
                return name == "startswith" ? window.starts(with: p) : window.reversed().starts(with: p.reversed())
            })
        case "find", "rfind":
            let sub = Array(try required("sub").unicodeScalars)
            let scalars = Array(s.unicodeScalars)
            guard sub.count <= scalars.count else { return .int(-1) }
            let positions = Array(0...(scalars.count - sub.count))
            for i in (name == "find" ? positions : positions.reversed()) where Array(scalars[i..<i + sub.count]) == sub { return .int(i) }
            return .int(-1)
        case "count":
            let sub = try required("sub")
            if sub.isEmpty { return .int(s.pyCount + 1) }
            return .int(try pythonSplit(s, separator: sub).count - 1)
        case "join":
            let items = try iterate(args["iterable"] ?? .array([]))
            let parts = try items.map { v -> String in
                guard case .string(let p) = v else { throw TemplateError.typeError("sequence item: expected str instance, \(v.typeName) found") }
                return p
            }
            return try checkSize(parts.joined(separator: s))
        case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal || $0.properties.numericType == .digit })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(isPythonSpace))
        case "islower": return .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == s.lowercased())
        case "isupper": return .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == s.uppercased())
        case "removeprefix":
            let p = try required("prefix")
            return .string(s.unicodeScalars.starts(with: p.unicodeScalars) ? String(String.UnicodeScalarView(s.unicodeScalars.dropFirst(p.unicodeScalars.count))) : s)
        case "removesuffix":
            let p = try required("suffix")
            return .string(!p.isEmpty && s.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed()) ? String(String.UnicodeScalarView(s.unicodeScalars.dropLast(p.unicodeScalars.count))) : s)
        default:
            throw TemplateError.unknownMethod(type: "str", name: name, line: 0)
        }
    }

    // MARK: Tests

    mutating func applyTest(_ name: String, _ value: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> Bool {
        let other = positional.first ?? keyword.first?.1 ?? .none
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string": return value.isString
        case "number": if case .int = value { return true }; if case .double = value { return true }; if case .bool = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "mapping": if case .dict = value { return true }; return false
        case "iterable", "sequence":
            switch value {
            case .string, .array, .dict, .undefined: return true
            default: return false
            }
        case "callable": if case .callable = value { return true }; return false
        case "equalto", "eq", "==": return value.pyEquals(other)
        case "ne", "!=": return !value.pyEquals(other)
        case "lt", "<": return try compare("<", value, other)
        case "le", "<=": return try compare("<=", value, other)
        case "gt", "greaterthan", ">": return try compare(">", value, other)
        case "ge", ">=": return try compare(">=", value, other)
        case "in": return try contains(other, value)
        case "sameas":
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "odd", "even", "divisibleby":
            guard case .ints(let x, let y)? = numericPair(value, name == "divisibleby" ? other : .int(2)) else {
                throw TemplateError.typeError("the '\(name)' test needs integers, got '\(value.typeName)'")
            }
            guard y != 0 else { throw TemplateError.typeError("integer division or modulo by zero") }
            let r = ((x % y) + y) % y
            return name == "even" || name == "divisibleby" ? r == 0 : r == 1
        case "lower": return value.pyStr == value.pyStr.lowercased()
        case "upper": return value.pyStr == value.pyStr.uppercased()
        case "escaped": return false
        case "filter": if case .string(let n) = value { return Interpreter.filterNames.contains(n) }; return false
        case "test": if case .string(let n) = value { return Interpreter.testNames.contains(n) }; return false
        default: throw TemplateError.unknownTest(name: name, line: 0)
        }
    }

    static let testNames: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping",
        "iterable", "sequence", "callable", "equalto", "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", "greaterthan",
        ">", "ge", ">=", "in", "sameas", "odd", "even", "divisibleby", "lower", "upper", "escaped", "filter", "test",
    ]

    // MARK: Filters

    static let filterNames: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title",
        "tojson", "trim", "unique", "upper", "wordcount",
    ]

    mutating func applyFilter(_ name: String, to value: TemplateValue, _ arguments: Arguments) throws -> TemplateValue {
        let (positional, keyword) = try evaluateArguments(arguments)
        return try filter(name, value, positional, keyword)
    }

    mutating func filter(_ name: String, _ value: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        func bind(_ names: [String]) throws -> Bound { try Bound(name, positional, keyword, names: names) }
        func strict() throws -> TemplateValue {
            if case .undefined(let hint) = value { throw TemplateError.undefined(message: hint, line: 0) }
            return value
        }
        switch name {
        case "trim":
            return .string(value.pyStr.pyStrip(try bind(["chars"]).string("chars")))
        case "upper": _ = try bind([]); return .string(value.pyStr.uppercased())
        case "lower": _ = try bind([]); return .string(value.pyStr.lowercased())
        case "capitalize": _ = try bind([]); return .string(pythonCapitalize(value.pyStr))
        case "title": _ = try bind([]); return .string(jinjaTitle(value.pyStr))
        case "string": _ = try bind([]); return .string(value.pyStr)
        case "safe": _ = try bind([]); return value
        case "e", "escape":
            _ = try bind([])
            var out = ""
            for c in value.pyStr.unicodeScalars {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(c)
                }
            }
            return .string(out)
        case "length", "count":
            _ = try bind([])
            switch value {
            case .string(let s): return .int(s.pyCount)
            case .array(let a): return .int(a.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw TemplateError.typeError("object of type '\(value.typeName)' has no len()")
            }
        case "wordcount":
            _ = try bind([])
            return .int(try pythonSplit(value.pyStr, separator: nil).count)
        case "default", "d":
            let args = try bind(["default_value", "boolean"])
            if value.isUndefined || (args.bool("boolean", false) && !value.truthy) { return args["default_value"] ?? .string("") }
            return value
        case "tojson":
            let args = try bind(["ensure_ascii", "indent", "separators", "sort_keys"])
            var indent: String? = nil
            switch args["indent"] {
            case .int(let n)?: indent = String(repeating: " ", count: max(n, 0))
            case .string(let s)?: indent = s
            case .none?, nil: indent = nil
            case let other?: throw TemplateError.typeError("tojson(): indent must be an integer or a string, not \(other.typeName)")
            }
            var separators: (String, String)? = nil
            if let sep = args["separators"], !sep.isNone {
                guard case .array(let pair) = sep, pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1] else {
                    throw TemplateError.typeError("tojson(): separators must be a pair of strings")
                }
                separators = (a, b)
            }
            let writer = JSONWriter(ensureASCII: args.bool("ensure_ascii", false), indent: indent, separators: separators, sortKeys: args.bool("sort_keys", false))
            return try checkSize(try writer.write(value))
        case "join":
            let args = try bind(["d", "attribute"])
            var items = try iterate(try strict())
            if let attribute = args["attribute"] { items = try items.map { try attributePath($0, attribute) } }
            return try checkSize(items.map(\.pyStr).joined(separator: try args.string("d", "")!))
        case "first", "last":
            _ = try bind([])
            let items = try iterate(value)
            return (name == "first" ? items.first : items.last) ?? .undefined(hint: "No \(name) item, sequence was empty.")
        case "list":
            _ = try bind([])
            return .array(try iterate(try strict()))
        case "items":
            _ = try bind([])
            switch value {
            case .undefined: return .array([])
            case .dict(let d): return .array(d.pairs.map { .array([.string($0.0), $0.1]) })
            default: throw TemplateError.typeError("Can only get item pairs from a mapping.")
            }
        case "reverse":
            _ = try bind([])
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .array(try iterate(try strict()).reversed())
        case "int":
            let args = try bind(["default", "base"])
            let fallback = args["default"] ?? .int(0)
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
            case .string(let s):
                let t = s.pyStrip().replacingOccurrences(of: "_", with: "")
                if let i = Int(t, radix: try args.int("base", 10)!) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                return fallback
            default: return fallback
            }
        case "float":
            let args = try bind(["default"])
            let fallback = args["default"] ?? .double(0)
            switch value {
            case .double: return value
            case .int(let i): return .double(Double(i))
            case .bool(let b): return .double(b ? 1 : 0)
            case .string(let s): return Double(s.pyStrip()).map(TemplateValue.double) ?? fallback
            default: return fallback
            }
        case "abs":
            _ = try bind([])
            switch try strict() {
            case .int(let i): guard i != Int.min else { throw TemplateError.typeError("integer overflow in abs") }; return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw TemplateError.typeError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            let args = try bind(["precision", "method"])
            let precision = try args.int("precision", 0)!
            let method = try args.string("method", "common")!
            let x: Double
            switch try strict() {
            case .int(let i): x = Double(i)
            case .bool(let b): x = b ? 1 : 0
            case .double(let d): x = d
            default: throw TemplateError.typeError("round(): '\(value.typeName)' is not a number")
            }
            let scale = pow(10.0, Double(precision))
            switch method {
            case "common":
                // Python's round: an int stays an int; a float rounds its exact binary value, half to
                // even, as printf's correctly rounded decimal conversion does.
                if case .int = value, precision >= 0 { return value }
                if precision >= 0 && x.isFinite { return .double(Double(String(format: "%.\(precision)f", x))!) }
                return .double((x * scale).rounded(.toNearestOrEven) / scale)
            case "ceil": return .double((x * scale).rounded(.up) / scale)
            case "floor": return .double((x * scale).rounded(.down) / scale)
            default: throw TemplateError.typeError("method must be common, ceil or floor")
            }
        case "replace":
            let args = try bind(["old", "new", "count"])
            guard let old = try args.string("old"), let new = try args.string("new") else { throw TemplateError.typeError("replace() needs old and new") }
            return try checkSize(pythonReplace(value.pyStr, old, new, count: try args.int("count", -1)!))
        case "indent":
            let args = try bind(["width", "first", "blank"])
            let indentation: String
            switch args["width"] {
            case .string(let s)?: indentation = s
            case nil: indentation = "    "
            default: indentation = String(repeating: " ", count: max(try args.int("width", 4)!, 0))
            }
            let lines = pythonSplitLines(value.pyStr + "\n", keepEnds: false)
            var out: String
            if args.bool("blank", false) {
                out = lines.joined(separator: "\n" + indentation)
            } else {
                out = lines.first ?? ""
                let rest = lines.dropFirst()
                if !rest.isEmpty { out += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n") }
            }
            if args.bool("first", false) { out = indentation + out }
            return try checkSize(out)
        case "center":
            let args = try bind(["width"])
            let s = value.pyStr
            let width = try args.int("width", 80)!
            let pad = width - s.pyCount
            guard pad > 0 else { return .string(s) }
            // Python's str.center puts the odd space on the right unless the width and length are both odd.
            let left = pad / 2 + (pad & width & 1)
            return try checkSize(String(repeating: " ", count: left) + s + String(repeating: " ", count: pad - left))
        case "unique":
            let args = try bind(["case_sensitive", "attribute"])
            var seen: [TemplateValue] = []
            var out: [TemplateValue] = []
            for item in try iterate(try strict()) {
                var key = try args["attribute"].map { try attributePath(item, $0) } ?? item
                if !args.bool("case_sensitive", false), case .string(let s) = key { key = .string(s.lowercased()) }
                if !seen.contains(where: { $0.pyEquals(key) }) { seen.append(key); out.append(item) }
            }
            return .array(out)
        case "sort":
            let args = try bind(["reverse", "case_sensitive", "attribute"])
            let items = try iterate(try strict())
            let keys = try items.map { item -> TemplateValue in
                var key = try args["attribute"].map { try attributePath(item, $0) } ?? item
                if !args.bool("case_sensitive", false), case .string(let s) = key { key = .string(s.lowercased()) }
                return key
            }
            return .array(try stableSort(Array(zip(keys, items)), reverse: args.bool("reverse", false)).map(\.1))
        case "dictsort":
            let args = try bind(["case_sensitive", "by", "reverse"])
            guard case .dict(let d) = value else { throw TemplateError.typeError("You can only sort by either 'key' or 'value'") }
            let byValue = try args.string("by", "key")! == "value"
            let pairs = d.pairs.map { pair -> (TemplateValue, TemplateValue) in
                var key = byValue ? pair.1 : .string(pair.0)
                if !args.bool("case_sensitive", false), case .string(let s) = key { key = .string(s.lowercased()) }
                return (key, .array([.string(pair.0), pair.1]))
            }
            return .array(try stableSort(pairs, reverse: args.bool("reverse", false)).map(\.1))
        case "min", "max":
            let args = try bind(["case_sensitive", "attribute"])
            let items = try iterate(try strict())
            let keyed = try items.map { item -> (TemplateValue, TemplateValue) in
                var key = try args["attribute"].map { try attributePath(item, $0) } ?? item
                if !args.bool("case_sensitive", false), case .string(let s) = key { key = .string(s.lowercased()) }
                return (key, item)
            }
            guard var best = keyed.first else { return .undefined(hint: "No aggregated item, sequence was empty.") }
            for candidate in keyed.dropFirst() {
                let order = try pyCompare(candidate.0, best.0)
                if name == "min" ? order < 0 : order > 0 { best = candidate }
            }
            return best.1
        case "sum":
            let args = try bind(["attribute", "start"])
            var total = args["start"] ?? .int(0)
            for item in try iterate(try strict()) {
                total = try binary("+", total, try args["attribute"].map { try attributePath(item, $0) } ?? item)
            }
            return total
        case "batch":
            let args = try bind(["linecount", "fill_with"])
            let size = try args.int("linecount", 1)!
            guard size > 0 else { throw TemplateError.typeError("batch(): linecount must be positive") }
            var out: [TemplateValue] = []
            var current: [TemplateValue] = []
            for item in try iterate(try strict()) {
                current.append(item)
                if current.count == size { out.append(.array(current)); current = [] }
            }
            if !current.isEmpty {
                if let fill = args["fill_with"], !fill.isNone { current += Array(repeating: fill, count: size - current.count) }
                out.append(.array(current))
            }
            return .array(out)
        case "attr":
            // jinja2's `attr` looks up the attribute only, never the item: a dict key is not found.
            let args = try bind(["name"])
            let attributeName = try args.string("name") ?? ""
            if case .dict = value, !Interpreter.dictMethods.contains(attributeName) {
                return .undefined(hint: "'dict object' has no attribute '\(attributeName)'")
            }
            return try attribute(value, attributeName)
        case "format":
            guard case .string(let s) = value else { throw TemplateError.typeError("format() needs a string") }
            return try checkSize(try percentFormat(s, positional))
        case "map":
            let items = try iterate(try strict())
            if positional.isEmpty, let attribute = keyword.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = keyword.first(where: { $0.0 == "default" })?.1
                return .array(try items.map { item in
                    let v = try attributePath(item, attribute)
                    return v.isUndefined ? (fallback ?? v) : v
                })
            }
            guard case .string(let filterName)? = positional.first else { throw TemplateError.typeError("map() needs a filter name or attribute=") }
            return .array(try items.map { try filter(filterName, $0, Array(positional.dropFirst()), keyword) })
        case "select", "reject", "selectattr", "rejectattr":
            let byAttribute = name.hasSuffix("attr")
            var rest = positional
            var attribute: TemplateValue? = nil
            if byAttribute {
                guard !rest.isEmpty else { throw TemplateError.typeError("\(name)() needs an attribute name") }
                attribute = rest.removeFirst()
            }
            let keep = name.hasPrefix("select")
            var out: [TemplateValue] = []
            for item in try iterate(try strict()) {
                let subject = try attribute.map { try attributePath(item, $0) } ?? item
                let passed: Bool
                if case .string(let test)? = rest.first {
                    passed = try applyTest(test, subject, Array(rest.dropFirst()), keyword)
                } else {
                    passed = subject.truthy
                }
                if passed == keep { out.append(item) }
            }
            return .array(out)
        default:
            throw TemplateError.unknownFilter(name: name, line: 0)
        }
    }

    /// `item.a.b` for an attribute path as `map`, `selectattr`, `sort` and `unique` take it (an item
    /// first, as jinja2's `make_attrgetter`; integer parts index lists).
    func attributePath(_ item: TemplateValue, _ path: TemplateValue) throws -> TemplateValue {
        switch path {
        case .int: return try self.item(item, path)
        case .string(let p):
            var v = item
            for part in p.split(separator: ".", omittingEmptySubsequences: false) {
                if let i = Int(part) { v = try self.item(v, .int(i)) } else { v = try self.item(v, .string(String(part))) }
            }
            return v
        default: throw TemplateError.typeError("attribute must be a string or an integer")
        }
    }

    /// Python's `sorted` on (key, item) pairs: stable, and a type error for keys without an order.
    func stableSort(_ pairs: [(TemplateValue, TemplateValue)], reverse: Bool) throws -> [(TemplateValue, TemplateValue)] {
        var error: Error? = nil
        let indexed = pairs.enumerated().map { ($0.offset, $0.element) }
        let sorted = indexed.sorted { a, b in
            do {
                let order = try pyCompare(a.1.0, b.1.0)
                if order != 0 { return reverse ? order > 0 : order < 0 }
            } catch let e { error = e }
            return a.0 < b.0
        }
        if let error { throw error }
        return sorted.map(\.1)
    }

    /// Python's `str % args` for `%s`, `%r`, `%d`, `%i`, `%f` (with a precision) and `%%`.
    func percentFormat(_ format: String, _ arguments: [TemplateValue]) throws -> String {
        var args = arguments
        if args.count == 1, case .array(let items) = args[0] { args = items }
        var out = ""
        var scalars = Array(format.unicodeScalars)[...]
        var next = 0
        while let c = scalars.popFirst() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var precision: Int? = nil
            if scalars.first == "." {
                scalars.removeFirst()
                var digits = ""
                while let d = scalars.first, ("0"..."9").contains(d) { digits.unicodeScalars.append(d); scalars.removeFirst() }
                precision = Int(digits) ?? 0
            }
            guard let spec = scalars.popFirst() else { throw TemplateError.typeError("incomplete format") }
            if spec == "%" { out += "%"; continue }
            guard next < args.count else { throw TemplateError.typeError("not enough arguments for format string") }
            let arg = args[next]
            next += 1
            switch spec {
            case "s": out += arg.pyStr
            case "r": out += arg.pyRepr
            case "d", "i":
                switch arg {
                case .int(let i): out += String(i)
                case .bool(let b): out += b ? "1" : "0"
                case .double(let d): out += String(Int(d))
                default: throw TemplateError.typeError("%d format: a number is required, not \(arg.typeName)")
                }
            case "f":
                guard let pair = numericPair(arg, .double(0)), case .doubles(let d, _) = pair else {
                    throw TemplateError.typeError("must be real number, not \(arg.typeName)")
                }
                out += String(format: "%.\(precision ?? 6)f", d)
            default: throw TemplateError.typeError("unsupported format character '\(spec)'")
            }
        }
        guard next == args.count else { throw TemplateError.typeError("not all arguments converted during string formatting") }
        return out
    }

    /// Python's `str.format` for `{}`, `{0}` and `{name}` fields without format specs.
    func pythonFormat(_ format: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> String {
        var out = ""
        var scalars = Array(format.unicodeScalars)[...]
        var automatic = 0
        while let c = scalars.popFirst() {
            if c == "{" && scalars.first == "{" { scalars.removeFirst(); out += "{"; continue }
            if c == "}" && scalars.first == "}" { scalars.removeFirst(); out += "}"; continue }
            guard c == "{" else { out.unicodeScalars.append(c); continue }
            var field = ""
            while let d = scalars.popFirst(), d != "}" { field.unicodeScalars.append(d) }
            if field.contains(":") || field.contains("!") { throw TemplateError.typeError("format specs are not supported in str.format") }
            let value: TemplateValue?
            if field.isEmpty { value = automatic < positional.count ? positional[automatic] : nil; automatic += 1 }
            else if let i = Int(field) { value = i < positional.count ? positional[i] : nil }
            else { value = keyword.last { $0.0 == field }?.1 }
            guard let value else { throw TemplateError.typeError("str.format: no argument for field '{\(field)}'") }
            out += value.pyStr
        }
        return out
    }
}

// MARK: Python's string functions

/// Python's `str.split(sep, maxsplit)`; `sep` nil splits at runs of whitespace and drops empty ends.
func pythonSplit(_ s: String, separator: String?, maxSplit: Int = -1, fromRight: Bool = false) throws -> [String] {
    var scalars = Array(s.unicodeScalars)
    func text(_ part: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(part)) }
    guard let separator else {
        if fromRight { scalars.reverse() }
        var parts: [String] = []
        var i = 0
        while i < scalars.count {
            while i < scalars.count, isPythonSpace(scalars[i]) { i += 1 }
            guard i < scalars.count else { break }
            if maxSplit >= 0 && parts.count == maxSplit {
                var end = scalars.count
                while end > i, isPythonSpace(scalars[end - 1]) { end -= 1 }
                parts.append(text(scalars[i..<end]))
                break
            }
            let start = i
            while i < scalars.count, !isPythonSpace(scalars[i]) { i += 1 }
            parts.append(text(scalars[start..<i]))
        }
        return fromRight ? parts.reversed().map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) } : parts
    }
    var sep = Array(separator.unicodeScalars)
    guard !sep.isEmpty else { throw TemplateError.typeError("empty separator") }
    if fromRight { scalars.reverse(); sep.reverse() }
    var parts: [String] = []
    var start = 0, i = 0
    while i + sep.count <= scalars.count {
        if (maxSplit < 0 || parts.count < maxSplit) && Array(scalars[i..<i + sep.count]) == sep {
            parts.append(text(scalars[start..<i]))
            i += sep.count
            start = i
        } else {
            i += 1
        }
    }
    parts.append(text(scalars[start...]))
    return fromRight ? parts.reversed().map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) } : parts
}

/// Python's `str.replace(old, new, count)`; an empty `old` inserts `new` between every character.
func pythonReplace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
    if old.isEmpty {
        var out = ""
        var done = 0
        for scalar in s.unicodeScalars {
            if count < 0 || done < count { out += new; done += 1 }
            out.unicodeScalars.append(scalar)
        }
        if count < 0 || done < count { out += new }
        return out
    }
    let parts = (try? pythonSplit(s, separator: old, maxSplit: count)) ?? [s]
    return parts.joined(separator: new)
}

/// Python's `str.splitlines`: every line boundary Python knows, `\r\n` as one.
func pythonSplitLines(_ s: String, keepEnds: Bool) -> [String] {
    let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
    let scalars = Array(s.unicodeScalars)
    var lines: [String] = []
    var start = 0, i = 0
    while i < scalars.count {
        if breaks.contains(scalars[i].value) {
            var end = i + 1
            if scalars[i] == "\r", end < scalars.count, scalars[end] == "\n" { end += 1 }
            lines.append(String(String.UnicodeScalarView(scalars[start..<(keepEnds ? end : i)])))
            start = end
            i = end
        } else {
            i += 1
        }
    }
    if start < scalars.count { lines.append(String(String.UnicodeScalarView(scalars[start...]))) }
    return lines
}

/// Python's `str.capitalize`: the first character in title case, the rest lower case.
func pythonCapitalize(_ s: String) -> String {
    guard let first = s.unicodeScalars.first else { return s }
    return first.properties.titlecaseMapping + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
}

/// Python's `str.title`: a cased character right after a cased one is lowered, any other is
/// title-cased (so "world's" becomes "World'S", as in Python).
func pythonTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for scalar in s.unicodeScalars {
        let p = scalar.properties
        out += previousCased ? p.lowercaseMapping : p.titlecaseMapping
        previousCased = p.isCased
    }
    return out
}

/// jinja2's `title` filter: each word that starts after a space, `-`, `(`, `{`, `[` or `<` gets its first
/// character upper-cased and the rest lowered.
func jinjaTitle(_ s: String) -> String {
    let separators: Set<Unicode.Scalar> = ["-", "(", "{", "[", "<"]
    var out = ""
    var atStart = true
    for scalar in s.unicodeScalars {
        if isPythonSpace(scalar) || separators.contains(scalar) {
            out.unicodeScalars.append(scalar)
            atStart = true
        } else {
            out += atStart ? scalar.properties.uppercaseMapping : scalar.properties.lowercaseMapping
            atStart = false
        }
    }
    return out
}

/// Python's `strftime` for the C locale: `%a %A %b %B %d %H %I %j %m %M %p %S %y %Y %%`; other
/// directives are kept as written.
func strftime(_ format: String, _ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone.current
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
    func two(_ v: Int) -> String { String(format: "%02d", v) }
    var out = ""
    var scalars = Array(format.unicodeScalars)[...]
    while let ch = scalars.popFirst() {
        guard ch == "%", let d = scalars.popFirst() else { out.unicodeScalars.append(ch); continue }
        switch d {
        case "a": out += String(days[c.weekday! - 1].prefix(3))
        case "A": out += days[c.weekday! - 1]
        case "b": out += String(months[c.month! - 1].prefix(3))
        case "B": out += months[c.month! - 1]
        case "d": out += two(c.day!)
        case "H": out += two(c.hour!)
        case "I": out += two((c.hour! + 11) % 12 + 1)
        case "j": out += String(format: "%03d", dayOfYear)
        case "m": out += two(c.month!)
        case "M": out += two(c.minute!)
        case "p": out += c.hour! < 12 ? "AM" : "PM"
        case "S": out += two(c.second!)
        case "y": out += two(c.year! % 100)
        case "Y": out += String(c.year!)
        case "%": out += "%"
        default: out += "%"; out.unicodeScalars.append(d)
        }
    }
    return out
}
