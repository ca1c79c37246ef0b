import HTTPTypes
import QKVFormat

/// A request the server refuses, answered in OpenAI's error shape:
/// `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status.
struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    let param: String?
    let code: String?
    /// Header fields the answer carries besides the body (`Retry-After`, `Allow`).
    var headers: HTTPFields = [:]

    /// 400: a malformed body or a field out of range, naming the field.
    static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: nil)
    }

    static func unknownModel(_ name: String, served: [String]) -> APIError {
        APIError(status: .notFound, message: "The model '\(name)' does not exist; this server has \(served.joined(separator: ", "))",
                 type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static let unauthorized = APIError(status: .unauthorized, message: "Incorrect or missing API key: send it as 'Authorization: Bearer <key>'",
                                       type: "invalid_request_error", param: nil, code: "invalid_api_key")

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is over the \(limit)-byte limit", type: "invalid_request_error", param: nil, code: nil)
    }

    static func notFound(_ path: String) -> APIError {
        APIError(status: .notFound, message: "No endpoint \(path)", type: "invalid_request_error", param: nil, code: nil)
    }

    /// 503: the model's queue is full; the client may try again shortly.
    static func queueFull(waiting: Int) -> APIError {
        APIError(status: .serviceUnavailable, message: "The server is busy: \(waiting) requests are already waiting for this model; try again shortly",
                 type: "server_error", param: nil, code: "queue_full", headers: [.retryAfter: "1"])
    }

    /// 405: a served path asked with another method.
    static func methodNotAllowed(_ method: String, path: String, allowed: String) -> APIError {
        APIError(status: .methodNotAllowed, message: "\(path) answers \(allowed), not \(method)", type: "invalid_request_error",
                 param: nil, code: nil, headers: [.allow: allowed])
    }

    static func server(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", param: nil, code: nil)
    }

    var json: JSONValue {
        ["error": ["message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null,
                   "code": code.map(JSONValue.string) ?? .null]]
    }
}
