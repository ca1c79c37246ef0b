import Dispatch
import Foundation
import QKVInference

/// One completion: generation of a `LanguageModel` on a thread of its own (the forward pass is
/// synchronous), handed to the async handler piece by piece. Stop sequences are cut here; the client
/// going away stops the generation at its next token.
struct Completion {
    enum FinishReason: String { case stop, length }

    enum Event: Sendable {
        case text(String)
        case finished(FinishReason, promptTokens: Int, completionTokens: Int)
    }

    /// Generations run one at a time per model, in arrival order, each on this queue's thread: the
    /// compute team is already as wide as the machine, so two at once would only share it.
    let queue: DispatchQueue

    init(modelName: String) {
        queue = DispatchQueue(label: "qkv.generate.\(modelName)")
    }

    /// The events of generating up to `maxTokens` after `prompt`: text pieces (never splitting a
    /// character, never showing text a stop sequence later claims), then how it finished.
    func run(_ model: LanguageModel, prompt: [Int], maxTokens: Int, sampling: SamplingOptions, stop: [String]) -> AsyncThrowingStream<Event, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancellationFlag()
            continuation.onTermination = { _ in cancelled.set() }
            queue.async {
                var matcher = StopMatcher(stops: stop)
                var stoppedBySequence = false
                do {
                    let stats = try model.generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, shouldContinue: { piece in
                        let (ready, matched) = matcher.feed(piece)
                        if !ready.isEmpty { continuation.yield(.text(ready)) }
                        if matched { stoppedBySequence = true; return false }
                        return !cancelled.isSet
                    })
                    let rest = matcher.flush()   // held back for a stop sequence that never came
                    if !stoppedBySequence && !rest.isEmpty { continuation.yield(.text(rest)) }
                    let reason: FinishReason = stoppedBySequence || stats.stoppedAtEndOfText ? .stop : .length
                    continuation.yield(.finished(reason, promptTokens: prompt.count, completionTokens: stats.generatedTokens))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
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

/// Set once from any thread, read from the generating one.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
