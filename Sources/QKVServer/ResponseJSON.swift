import Foundation
import QKVFormat

extension JSONValue {
    /// A response built as Foundation values (`[String: Any]`, `[Any]`, `String`, Swift numbers and
    /// `Bool`, `NSNull`, and the `NSNumber`s a parsed request holds), for the project's writer. Object keys
    /// are sorted so a response's bytes do not depend on dictionary order.
    init(response value: Any) {
        switch value {
        case let v as JSONValue: self = v
        case let v as String: self = .string(v)
        case let v as [String: Any]: self = .object(v.keys.sorted().map { (key: $0, value: JSONValue(response: v[$0]!)) })
        case let v as [Any]: self = .array(v.map { JSONValue(response: $0) })
        case is NSNull: self = .null
        // Before the number cases: on Linux an NSNumber also casts to Bool, and a Bool to NSNumber.
        case let v as Bool where type(of: value) == Bool.self: self = .bool(v)
        case let v as any BinaryInteger: self = .number("\(v)")
        case let v as Float where type(of: value) == Float.self: self = .number(JSONText.number(v))
        case let v as Double where type(of: value) == Double.self: self = .double(v)
        case let n as NSNumber where RequestBody.isBool(n): self = .bool(n.boolValue)
        case let n as NSNumber: self = Int64(exactly: n.doubleValue).map { .number(String($0)) } ?? .double(n.doubleValue)
        default:
            assertionFailure("no JSON for a \(type(of: value))")
            self = .null
        }
    }
}
