import Foundation
import QKVInference
import Synchronization

/// Continuous batching for one decoder model: up to `parallel` generations decode together, one
/// `DecoderBatch` step (every weight read once) per token of all of them; a generation that finishes
/// frees its slot for the next in the queue, whose prompt runs a chunk of up to `chunkTokens` in each
/// of those steps until it joins them. The forward passes are synchronous and as wide as the machine,
/// so they run on one thread of the scheduler's own; requests reach it through a bounded queue (a full
/// queue is refused, so memory does not grow with load).
final class GenerationScheduler: Sendable {
    enum FinishReason: String, Sendable { case stop, length }

    /// Text pieces as they complete, then how the generation finished. With `logprobs`, each event
    /// carries the log-probabilities of the tokens chosen since the previous one.
    enum Event: Sendable {
        case text(String, logprobs: [TokenLogProbabilities])
        case finished(FinishReason, promptTokens: Int, completionTokens: Int, logprobs: [TokenLogProbabilities])
    }

    /// One request: what to generate, and where its events go.
    struct Request: Sendable {
        let prompt: [Int]
        let maxTokens: Int
        let sampling: SamplingOptions
        let stop: [String]
        /// Alternatives to report beside each chosen token's log-probability; nil: no log-probabilities.
        let logprobs: Int?
        /// Special tokens whose text the reply shows all the same (the markers of tool calls), by id.
        let shownTokens: [Int: String]
        let events: AsyncThrowingStream<Event, Error>.Continuation
        let cancelled: StopSignal
        let received: ContinuousClock.Instant
    }

    let model: LanguageModel
    let parallel: Int
    /// Prompt tokens one step takes beside the decoding sequences' tokens: a bound on how long a prompt
    /// holds up their next tokens.
    let chunkTokens: Int
    let maxQueue: Int
    private let metrics: ServerMetrics.ModelMetrics
    /// Requests waiting for a slot, oldest first, and whether `shutdown` was called.
    private struct Queue {
        var pending: [Request] = []
        var stopping = false
    }
    private let queue = Mutex(Queue())
    /// Signalled once per request queued and at shutdown: the scheduler's thread sleeps on it when it
    /// has no slot busy and nothing queued.
    private let arrivals = DispatchSemaphore(value: 0)

    init(model: LanguageModel, name: String, parallel: Int, chunkTokens: Int = DecoderSession.defaultChunkTokens, maxQueue: Int, metrics: ServerMetrics) {
        self.model = model
        self.parallel = max(1, parallel)
        self.chunkTokens = max(1, chunkTokens)
        self.maxQueue = max(0, maxQueue)
        self.metrics = metrics.model(name)
        let thread = Thread { [self] in run() }
        thread.name = "qkv-generate-\(name)"
        thread.start()
    }

    /// Queues a generation of up to `maxTokens` after `prompt`. Its events: text pieces (never splitting
    /// a character, never showing text a stop sequence later claims), then how it finished. Ending the
    /// stream (a client gone) stops the generation before its next token and frees its slot.
    /// Throws 503 when `maxQueue` requests are already waiting for a slot.
    func submit(prompt: [Int], maxTokens: Int, sampling: SamplingOptions, stop: [String], logprobs: Int?,
                shownTokens: [Int: String] = [:]) throws(APIError) -> AsyncThrowingStream<Event, Error> {
        let (stream, continuation) = AsyncThrowingStream<Event, Error>.makeStream()
        let cancelled = StopSignal()
        continuation.onTermination = { _ in cancelled.raise() }
        let request = Request(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stop: stop, logprobs: logprobs, shownTokens: shownTokens,
                              events: continuation, cancelled: cancelled, received: .now)
        let refused = queue.withLock { queue -> Int? in
            guard queue.pending.count < maxQueue else { return queue.pending.count }
            queue.pending.append(request)
            metrics.queueDepth.record(queue.pending.count)
            return nil
        }
        if let refused { throw APIError.queueFull(waiting: refused) }
        arrivals.signal()
        return stream
    }

    /// Stops the thread after the generations in flight and in the queue.
    func shutdown() {
        queue.withLock { $0.stopping = true }
        arrivals.signal()
    }

    /// A generation holding a slot: its KV cache, sampler and text so far.
    private struct Slot {
        let request: Request
        let session: DecoderSession
        var sampler: Sampler
        var text: GeneratedText?
        var matcher: StopMatcher
        /// Prompt tokens run so far: the slot decodes once all are.
        var prompted = 0
        /// Log-probabilities of the tokens chosen since the last event.
        var logprobs: [TokenLogProbabilities] = []
        var generated = 0
        /// The last token chosen: the next step's input.
        var next = 0
        var done = false
    }

    /// The scheduler's thread: admit queued requests into free slots, then one batch step of the next
    /// token of every slot that is decoding and a chunk of the oldest prompt still being read, until
    /// shut down with nothing left.
    private func run() {
        var slots: [Slot] = []
        let batch = DecoderBatch(model: model.model, maxSequences: parallel, maxTokens: parallel - 1 + chunkTokens)
        let vocabulary = model.model.config.vocabSize
        while true {
            let free = parallel - slots.count
            let (admitted, stopping) = queue.withLock { queue -> ([Request], Bool) in
                let admitted = Array(queue.pending.prefix(free))
                queue.pending.removeFirst(admitted.count)
                metrics.queueDepth.record(queue.pending.count)
                return (admitted, queue.stopping)
            }
            if slots.isEmpty && admitted.isEmpty {
                if stopping { return }
                // Nothing to do: sleep until the next request or shutdown. Signals left by requests an
                // earlier round already admitted come back here with nothing admitted.
                arrivals.wait()
                continue
            }

            for request in admitted {
                if request.cancelled.isRaised { request.events.finish(); continue }
                metrics.queueWait.recordInterval(since: request.received)
                slots.append(Slot(request: request, session: batch.makeSession(capacity: request.prompt.count + request.maxTokens),
                                  sampler: Sampler(request.sampling),
                                  text: model.tokenizer.map { GeneratedText(tokenizer: $0, prompt: request.prompt) },
                                  matcher: StopMatcher(stops: request.stop)))
            }
            slots.removeAll { slot in
                if slot.request.cancelled.isRaised { slot.request.events.finish(); return true }
                return false
            }
            metrics.activeSequences.record(slots.count)
            // One step: every decoding slot's next token, and a chunk of one prompt (the oldest still
            // being read), so a long prompt holds up the others' tokens by a chunk's share of a step;
            // its last chunk gives its first token.
            let decoding = slots.indices.filter { slots[$0].prompted == slots[$0].request.prompt.count }
            let reading = slots.indices.first { slots[$0].prompted < slots[$0].request.prompt.count }
            var segments = decoding.map { DecoderBatch.Segment([slots[$0].next], sequence: slots[$0].session) }
            var chunk: [Int] = []
            if let i = reading {
                let prompt = slots[i].request.prompt, from = slots[i].prompted
                chunk = Array(prompt[from..<min(from + chunkTokens, prompt.count)])
                segments.append(DecoderBatch.Segment(chunk, sequence: slots[i].session))
            }
            guard !segments.isEmpty else { continue }
            if !decoding.isEmpty { metrics.batchSize.record(decoding.count) }
            do {
                let logits = try batch.step(segments)
                func row(_ r: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: logits[(r * vocabulary)..<((r + 1) * vocabulary)]) }
                for (r, i) in decoding.enumerated() { accept(&slots[i], logits: row(r)) }
                if let i = reading {
                    slots[i].prompted += chunk.count
                    metrics.promptTokens.increment(by: Int64(chunk.count))
                    if slots[i].prompted == slots[i].request.prompt.count { accept(&slots[i], logits: row(decoding.count)) }
                }
            } catch {
                for i in decoding + (reading.map { [$0] } ?? []) { slots[i].request.events.finish(throwing: error); slots[i].done = true }
            }
            slots.removeAll(where: \.done)
            metrics.activeSequences.record(slots.count)
        }
    }

    /// Chooses the slot's next token from `logits` [V] and hands out its text; finishes the slot at the
    /// end-of-text token, a stop sequence, `maxTokens` or a full cache.
    private func accept(_ slot: inout Slot, logits: UnsafeBufferPointer<Float>) {
        let token = slot.sampler.next(logits)
        slot.generated += 1
        slot.next = token
        metrics.generatedTokens.increment()
        let request = slot.request
        if let top = request.logprobs { slot.logprobs.append(TokenLogProbabilities(logits, token: token, top: top)) }
        var piece = slot.text?.append(token) ?? ""
        if let marker = request.shownTokens[token] { piece += marker }   // decoding left it out
        let (ready, matched) = slot.matcher.feed(piece)
        if !ready.isEmpty {
            request.events.yield(.text(ready, logprobs: slot.logprobs))
            slot.logprobs.removeAll()
        }
        let reason: FinishReason?
        if matched || token == model.model.config.specialTokens[.eos] {
            reason = .stop
        } else if slot.generated == request.maxTokens || slot.session.length == slot.session.capacity {
            reason = .length
        } else {
            reason = nil
        }
        guard let reason else { return }
        if !matched {
            let rest = slot.matcher.flush()   // held back for a stop sequence that never came
            if !rest.isEmpty {
                request.events.yield(.text(rest, logprobs: slot.logprobs))
                slot.logprobs.removeAll()
            }
        }
        request.events.yield(.finished(reason, promptTokens: request.prompt.count, completionTokens: slot.generated, logprobs: slot.logprobs))
        request.events.finish()
        slot.done = true
    }
}

/// Text held back while it may still become a stop sequence: `feed` returns what can be shown and
/// whether a stop sequence has appeared (the text before it is shown, it and what follows never).
struct StopMatcher {
    let stops: [String]
    private var pending = ""

    init(stops: [String]) { self.stops = stops }

    mutating func feed(_ piece: String) -> (ready: String, matched: Bool) {
        pending += piece
        guard !stops.isEmpty else { defer { pending = "" }; return (pending, false) }
        if let first = stops.compactMap({ pending.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let ready = String(pending[..<first.lowerBound])
            pending = ""
            return (ready, true)
        }
        // Keep the longest tail that is a proper prefix of some stop sequence.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1) where pending.hasSuffix(String(stop.prefix(length))) {
                keep = max(keep, length)
                break
            }
        }
        let ready = String(pending.dropLast(keep))
        pending = String(pending.suffix(keep))
        return (ready, false)
    }

    mutating func flush() -> String {
        defer { pending = "" }
        return pending
    }
}
