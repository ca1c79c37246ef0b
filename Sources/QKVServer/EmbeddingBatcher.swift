import Foundation
import QKVInference
import Synchronization

/// Dynamic batching for one encoder model, as text-embeddings-inference does: requests that arrive
/// while a batch is computing wait in a bounded queue, and the next batch takes as many of them as fit
/// in `maxBatch` inputs (a request is never split; a larger one runs alone). One thread of its own runs
/// the synchronous forward passes; each request gets back its own vectors, in order.
final class EmbeddingBatcher: Sendable {
    private struct Request: Sendable {
        let inputs: [[Int]]
        let reply: CheckedContinuation<[[Float]], Error>
        let received: ContinuousClock.Instant
    }

    let embedder: SentenceEmbedder
    let maxBatch: Int
    let maxQueue: Int
    private let metrics: ServerMetrics.ModelMetrics
    /// Requests waiting for the next batch, oldest first.
    private let pending = Mutex<[Request]>([])
    /// Signalled once per request queued: the batching thread sleeps on it while `pending` is empty.
    private let arrivals = DispatchSemaphore(value: 0)

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
            let refused = pending.withLock { pending -> Int? in
                guard pending.count < maxQueue else { return pending.count }
                pending.append(Request(inputs: inputs, reply: reply, received: .now))
                metrics.queueDepth.record(pending.count)
                return nil
            }
            if let refused {
                reply.resume(throwing: APIError.queueFull(waiting: refused))
            } else {
                arrivals.signal()
            }
        }
    }

    private func run() {
        while true {
            // The oldest request, and those after it while they fit.
            let (batch, count) = pending.withLock { pending -> ([Request], Int) in
                var count = 0, taken = 0
                while taken < pending.count && (taken == 0 || count + pending[taken].inputs.count <= maxBatch) {
                    count += pending[taken].inputs.count
                    taken += 1
                }
                let batch = Array(pending.prefix(taken))
                pending.removeFirst(taken)
                if taken > 0 { metrics.queueDepth.record(pending.count) }
                return (batch, count)
            }
            // Each request signalled once; a batch of several leaves signals for requests it took, which
            // come back here as empty takes.
            guard !batch.isEmpty else { arrivals.wait(); continue }

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
