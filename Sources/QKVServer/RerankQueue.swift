import Foundation
import QKVInference

/// The requests for one reranker, run one at a time on a thread of its own (the forward passes are
/// synchronous and use the model's compute threads); at most `maxQueue` wait, more get a 503.
final class RerankQueue: @unchecked Sendable {   // `pending` only under `condition`
    private struct Request {
        let query: String
        let documents: [String]
        let reply: CheckedContinuation<[(index: Int, score: Float)], Error>
    }

    let reranker: CrossEncoder
    let maxQueue: Int
    private let condition = NSCondition()
    private var pending: [Request] = []

    init(reranker: CrossEncoder, name: String, maxQueue: Int) {
        self.reranker = reranker
        self.maxQueue = max(0, maxQueue)
        let thread = Thread { [self] in run() }
        thread.name = "qkv-rerank-\(name)"
        thread.start()
    }

    /// Every document's index and score for `query`, most relevant first.
    func rank(query: String, documents: [String]) async throws -> [(index: Int, score: Float)] {
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<[(index: Int, score: Float)], Error>) in
            condition.lock()
            defer { condition.unlock() }
            guard pending.count < maxQueue else { reply.resume(throwing: APIError.queueFull(waiting: pending.count)); return }
            pending.append(Request(query: query, documents: documents, reply: reply))
            condition.signal()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let request = pending.removeFirst()
            condition.unlock()
            do {
                request.reply.resume(returning: try reranker.rank(query: request.query, documents: request.documents))
            } catch {
                request.reply.resume(throwing: error)
            }
        }
    }
}
