import Foundation
import QKVInference
import Synchronization

/// Dynamic batching for one encoder model, as text-embeddings-inference does for embeddings and
/// reranking: requests that arrive while a batch is computing wait in a bounded queue, and the next
/// batch takes as many of them as fit in `maxBatch` inputs (a request is never split between batches; a
/// larger one runs alone, `maxBatch` inputs to a forward pass). One thread of its own runs the
/// synchronous forward passes; each request gets back its own outputs, in order.
///
/// An input is a text's token ids (embeddings) or a (query, document) pair's ids and token types
/// (reranking); `compute` runs one forward pass over the inputs of several requests.
final class RequestBatcher<Input: Sendable, Output: Sendable>: Sendable {
    private struct Request: Sendable {
        let inputs: [Input]
        let reply: CheckedContinuation<[Output], Error>
        let received: ContinuousClock.Instant
    }

    let maxBatch: Int
    let maxQueue: Int
    private let compute: @Sendable ([Input]) throws -> [Output]
    private let tokens: @Sendable (Input) -> Int
    private let metrics: ServerMetrics.ModelMetrics
    /// Requests waiting for the next batch, oldest first.
    private let pending = Mutex<[Request]>([])
    /// Signalled once per request queued: the batching thread sleeps on it while `pending` is empty.
    private let arrivals = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - name: the model's name, for the thread and the metrics.
    ///   - tokens: an input's token count, added to `qkv_embedded_tokens_total`.
    ///   - compute: the outputs of one forward pass, one per input, in order.
    init(name: String, maxBatch: Int, maxQueue: Int, metrics: ServerMetrics, tokens: @escaping @Sendable (Input) -> Int,
         compute: @escaping @Sendable ([Input]) throws -> [Output]) {
        self.maxBatch = max(1, maxBatch)
        self.maxQueue = max(0, maxQueue)
        self.metrics = metrics.model(name)
        self.tokens = tokens
        self.compute = compute
        let thread = Thread { [self] in run() }
        thread.name = "qkv-batch-\(name)"
        thread.start()
    }

    /// The outputs of `inputs`, in order. Throws 503 when `maxQueue` requests already wait.
    func submit(_ inputs: [Input]) async throws -> [Output] {
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<[Output], Error>) in
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
                // One request larger than maxBatch runs maxBatch inputs to a pass.
                let inputs = batch.flatMap(\.inputs)
                var outputs: [Output] = []
                outputs.reserveCapacity(inputs.count)
                var start = 0
                while start < inputs.count {
                    let end = min(start + maxBatch, inputs.count)
                    outputs += try compute(Array(inputs[start..<end]))
                    start = end
                }
                metrics.embeddedTokens.increment(by: Int64(inputs.reduce(0) { $0 + tokens($1) }))
                start = 0
                for request in batch {
                    request.reply.resume(returning: Array(outputs[start..<(start + request.inputs.count)]))
                    start += request.inputs.count
                }
            } catch {
                for request in batch { request.reply.resume(throwing: error) }
            }
        }
    }
}

/// An embedding model's batcher: token ids in, vectors out.
typealias EmbeddingBatcher = RequestBatcher<[Int], [Float]>
/// A reranker's batcher: (query, document) pairs as the tokenizer's pair template writes them in, scores out.
typealias RerankBatcher = RequestBatcher<(ids: [Int], typeIDs: [Int]), Float>

extension RequestBatcher where Input == [Int], Output == [Float] {
    convenience init(embedder: SentenceEmbedder, name: String, maxBatch: Int, maxQueue: Int, metrics: ServerMetrics) {
        self.init(name: name, maxBatch: maxBatch, maxQueue: maxQueue, metrics: metrics, tokens: \.count) { try embedder.encoder.embed(tokenIDs: $0) }
    }
}

extension RequestBatcher where Input == (ids: [Int], typeIDs: [Int]), Output == Float {
    convenience init(reranker: CrossEncoder, name: String, maxBatch: Int, maxQueue: Int, metrics: ServerMetrics) {
        self.init(name: name, maxBatch: maxBatch, maxQueue: maxQueue, metrics: metrics, tokens: { $0.ids.count }) { try reranker.scores(pairs: $0) }
    }
}
