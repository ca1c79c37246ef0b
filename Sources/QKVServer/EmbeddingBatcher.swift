import Foundation
import QKVInference

/// Dynamic batching for one encoder model, as text-embeddings-inference does: requests that arrive
/// while a batch is computing wait in a bounded queue, and the next batch takes as many of them as fit
/// in `maxBatch` inputs (a request is never split; a larger one runs alone). One thread of its own runs
/// the synchronous forward passes; each request gets back its own vectors, in order.
final class EmbeddingBatcher: @unchecked Sendable {   // `pending` only under `condition`
    private struct Request {
        let inputs: [[Int]]
        let reply: CheckedContinuation<[[Float]], Error>
        let received: ContinuousClock.Instant
    }

    let embedder: SentenceEmbedder
    let maxBatch: Int
    let maxQueue: Int
    private let metrics: ServerMetrics.ModelMetrics
    private let condition = NSCondition()
    private var pending: [Request] = []

    init(embedder: SentenceEmbedder, name: String, maxBatch: Int, maxQueue: Int, metrics: ServerMetrics) {
        self.embedder = embedder
        self.maxBatch = max(1, maxBatch)
        self.maxQueue = max(0, maxQueue)
        self.metrics = metrics.model(name)
        let thread = Thread { [self] in run() }
        thread.name = "qkv-embed-\(name)"
        thread.start()
    }

    /// The vectors of `inputs` (token ids), in order. Throws 503 when `maxQueue` requests already wait.
    func embed(_ inputs: [[Int]]) async throws -> [[Float]] {
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<[[Float]], Error>) in
            condition.lock()
            defer { condition.unlock() }
            guard pending.count < maxQueue else { reply.resume(throwing: APIError.queueFull(waiting: pending.count)); return }
            pending.append(Request(inputs: inputs, reply: reply, received: .now))
            metrics.queueDepth.record(pending.count)
            condition.signal()
        }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            // The oldest request, and those after it while they fit.
            var count = 0, taken = 0
            while taken < pending.count && (taken == 0 || count + pending[taken].inputs.count <= maxBatch) {
                count += pending[taken].inputs.count
                taken += 1
            }
            let batch = Array(pending.prefix(taken))
            pending.removeFirst(taken)
            metrics.queueDepth.record(pending.count)
            condition.unlock()

            for request in batch { metrics.queueWait.recordInterval(since: request.received) }
            metrics.batchSize.record(count)
            do {
                let vectors = try embedder.encoder.embed(tokenIDs: batch.flatMap(\.inputs))
                metrics.embeddedTokens.increment(by: Int64(batch.reduce(0) { $0 + $1.inputs.reduce(0) { $0 + $1.count } }))
                var start = 0
                for request in batch {
                    request.reply.resume(returning: Array(vectors[start..<(start + request.inputs.count)]))
                    start += request.inputs.count
                }
            } catch {
                for request in batch { request.reply.resume(throwing: error) }
            }
        }
    }
}
