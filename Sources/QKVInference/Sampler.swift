import Foundation

/// How the next token is chosen from the logits.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 picks the most likely token (greedy); higher flattens the distribution.
    public var temperature: Float
    /// Keep only the k most likely tokens (nil or 0: all).
    public var topK: Int?
    /// Keep the smallest set of most likely tokens whose probability reaches p (nil or 1: all).
    public var topP: Float?
    /// The random stream: the same seed, model and prompt give the same tokens.
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingOptions()
}

/// Picks tokens from logits: greedy at temperature 0, else temperature, then top-k, then top-p (as
/// Hugging Face's warpers apply them), then one draw from a seeded generator.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    var random: SplitMix64

    public init(_ options: SamplingOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    /// The next token id from logits [V].
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if options.temperature <= 0 { return argmax(logits) }
        // Candidates, most likely first; only the top k are sorted when k is given.
        var candidates = Array(logits.indices)
        if let k = options.topK, k > 0, k < logits.count {
            candidates = Array(candidates.partialSorted(k: k) { logits[$0] > logits[$1] })
        } else if let p = options.topP, p < 1 {
            candidates.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        }
        let top = candidates.map { logits[$0] }.max() ?? 0
        var weights = candidates.map { exp(Double(logits[$0] - top) / Double(options.temperature)) }
        if let p = options.topP, p < 1 {
            let total = weights.reduce(0, +)
            var cumulative = 0.0, keep = 0
            while keep < weights.count {
                cumulative += weights[keep] / total
                keep += 1
                if cumulative >= Double(p) { break }
            }
            candidates.removeSubrange(keep...)
            weights.removeSubrange(keep...)
        }
        let total = weights.reduce(0, +)
        var target = random.nextUnitDouble() * total
        for (i, w) in weights.enumerated() {
            target -= w
            if target < 0 { return candidates[i] }
        }
        return candidates[candidates.count - 1]
    }
}

/// The index of the largest value, the first one on ties (as torch.argmax).
public func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    for i in x.indices where x[i] > x[best] { best = i }
    return best
}

extension Array {
    /// The k elements first in `areInIncreasingOrder`, sorted, without sorting the rest.
    func partialSorted(k: Int, by areInIncreasingOrder: (Element, Element) -> Bool) -> ArraySlice<Element> {
        var heap = Array(prefix(k)).sorted(by: areInIncreasingOrder)
        for element in dropFirst(k) where areInIncreasingOrder(element, heap[k - 1]) {
            // Insert in order, drop the last: k is small (tens), so a shift is cheap.
            var i = k - 1
            while i > 0 && areInIncreasingOrder(element, heap[i - 1]) { heap[i] = heap[i - 1]; i -= 1 }
            heap[i] = element
        }
        return heap[...]
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator; same seed, same stream on
/// every platform, which Swift's SystemRandomNumberGenerator cannot give.
struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// A chosen token's log-probability under the model's own distribution (log softmax of the raw logits:
/// no temperature, no top-k or top-p), and the `top` most likely tokens with theirs, most likely first:
/// what OpenAI's `logprobs` report. Sums in f64, as `logProbability`.
public struct TokenLogProbabilities: Sendable {
    public struct Alternative: Sendable {
        public let token: Int
        public let logprob: Double
    }

    public let token: Int
    public let logprob: Double
    public let top: [Alternative]

    public init(_ logits: UnsafeBufferPointer<Float>, token: Int, top k: Int) {
        var maxValue = -Float.infinity
        for x in logits { maxValue = max(maxValue, x) }
        var sum = 0.0
        for x in logits { sum += exp(Double(x - maxValue)) }
        let logSum = log(sum)
        self.token = token
        logprob = Double(logits[token] - maxValue) - logSum
        let best = k > 0 ? Array(logits.indices).partialSorted(k: min(k, logits.count)) { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) } : []
        top = best.map { Alternative(token: $0, logprob: Double(logits[$0] - maxValue) - logSum) }
    }
}
