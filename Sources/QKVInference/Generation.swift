import Foundation
import QKVFormat

/// How long a generation took, split as people compare decoders: the prompt (one batched pass) and
/// the decode steps (one token each).
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var promptSeconds = 0.0
    /// Tokens produced, the stop token included when there was one.
    public var generatedTokens = 0
    /// Single-token forward passes after the prompt (one fewer than the tokens: the last is not fed back).
    public var decodeSteps = 0
    /// Time of the decode steps and of sampling every token.
    public var decodeSeconds = 0.0
    public var stoppedAtEndOfText = false

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeSteps) / decodeSeconds : 0 }
}

extension DecoderModel {
    /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` with each as soon as it is
    /// chosen; stops early at the model's end-of-text token unless `stopAtEndOfText` is false, or when
    /// `onToken` returns false. The prompt must hold at least one token.
    public func generate(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = .greedy, stopAtEndOfText: Bool = true,
                         onToken: (Int) -> Bool) throws(InferenceError) -> GenerationStats {
        guard !prompt.isEmpty else { throw .emptyPrompt }
        var stats = GenerationStats()
        guard maxTokens > 0 else { return stats }
        let session = makeSession(capacity: prompt.count + maxTokens)
        var sampler = Sampler(sampling)
        let endOfText = config.specialTokens[.eos]

        let promptStart = Date()
        var logits = try forwardInPlace(prompt, session: session)
        stats.promptTokens = prompt.count
        stats.promptSeconds = Date().timeIntervalSince(promptStart)

        let decodeStart = Date()
        var step = [0]   // reused: a decode step allocates nothing
        while true {
            let token = sampler.next(UnsafeBufferPointer(start: logits, count: config.vocabSize))
            stats.generatedTokens += 1
            let wantsMore = onToken(token)
            if token == endOfText && stopAtEndOfText { stats.stoppedAtEndOfText = true; break }
            if !wantsMore || stats.generatedTokens == maxTokens || session.length == session.capacity { break }
            step[0] = token
            logits = try forwardInPlace(step, session: session)
            stats.decodeSteps += 1
        }
        stats.decodeSeconds = Date().timeIntervalSince(decodeStart)
        return stats
    }

    /// log p(token t | tokens before t) for t = 1..<count, in nats. A text longer than the model's context
    /// is scored in windows of `maxPositions` tokens that overlap by half, so every token after the
    /// first window sees at least half a context of history (Hugging Face's perplexity recipe).
    /// `oneTokenAtATime` feeds each window's tokens through decode steps, as generation computes them
    /// (teacher forcing): the score of the decode path, which is what `activations` changes; otherwise
    /// each window runs as one prompt.
    public func logProbabilities(_ tokens: [Int], oneTokenAtATime: Bool = false) throws(InferenceError) -> [Double] {
        guard tokens.count > 1 else { return [] }
        let window = config.maxPositions, stride = max(window / 2, 1), V = config.vocabSize
        let session = makeSession(capacity: min(window, tokens.count))
        var out: [Double] = []
        out.reserveCapacity(tokens.count - 1)
        var begin = 0
        while out.count < tokens.count - 1 {
            let end = min(begin + window, tokens.count)
            session.reset()
            if oneTokenAtATime {
                var step = [0]
                for t in begin..<(end - 1) {
                    step[0] = tokens[t]
                    let logits = try forwardInPlace(step, session: session)
                    // Score the tokens not scored yet: t + 1 from the logits of t.
                    if t + 1 > out.count { out.append(logProbability(logits, n: V, at: tokens[t + 1])) }
                }
            } else {
                let logits = try forward(Array(tokens[begin..<end]), session: session, logits: .all)
                // Score the tokens not scored yet: positions out.count + 1 ..< end, each from the logits one before.
                logits.withUnsafeBufferPointer { logits in
                    for t in (out.count + 1)..<end {
                        out.append(logProbability(logits.baseAddress! + (t - 1 - begin) * V, n: V, at: tokens[t]))
                    }
                }
            }
            begin += stride
        }
        return out
    }
}
