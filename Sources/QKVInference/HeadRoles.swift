import Foundation

/// What one attention head does on one text, measured from its probabilities and updates.
///
/// Scores are mean attention over the query tokens that can see at least two keys (a decoder's first
/// token can only see itself, which says nothing about the head), so 1 means every such token puts all
/// its attention there.
public struct HeadProfile: Sendable, Equatable {
    public var layer: Int
    public var head: Int
    /// Mean attention to the token just before.
    public var previousToken: Float
    /// Mean attention to the token itself.
    public var currentToken: Float
    /// Mean attention to the token just after (0 in a causal decoder).
    public var nextToken: Float
    /// Mean attention to the first token ([CLS] or the start token: a "sink").
    public var firstToken: Float
    /// Mean attention to the last token ([SEP] in BERT).
    public var lastToken: Float
    /// The relative position j − i other than −1, 0, +1 that gets the most attention, and how much.
    public var bestOffset: Int
    public var bestOffsetScore: Float
    /// Mean entropy of the rows in nats, and divided by log(keys seen): 1 is uniform, 0 one-hot.
    public var entropy: Float
    public var normalizedEntropy: Float
    /// Mean |i − j| weighted by attention, in tokens.
    public var meanDistance: Float
    /// Mean norm of the head's update to a token, and the same divided by the layer's mean over heads.
    public var meanUpdateNorm: Float
    public var relativeUpdate: Float
    /// The role with the highest score, and that score.
    public var role: HeadRole
    public var roleScore: Float
}

/// The names given to heads by where they look.
public enum HeadRole: String, Sendable, CaseIterable {
    case previousToken = "previous token"
    case currentToken = "self"
    case nextToken = "next token"
    case firstToken = "first token (sink)"
    case lastToken = "last token"
    case fixedOffset = "fixed offset"
    case broad = "broad"
    case mixed = "mixed"
}

extension AttentionRecord {
    /// Every head's profile, layer by layer.
    ///
    /// A head takes the positional role (previous, self, next, first, last, other offset) with the highest
    /// mean attention when that is at least `threshold`; otherwise it is `broad` when its normalised
    /// entropy is at least 0.75 and `mixed` when not.
    public func headProfiles(threshold: Float = 0.4) -> [HeadProfile] {
        let T = tokenCount
        var out: [HeadProfile] = []
        for layer in 0..<layerCount {
            var layerProfiles: [HeadProfile] = []
            for head in 0..<headCount {
                let p = Array(matrix(layer: layer, head: head))
                // The keys row i may see: 0...i under a causal mask, else all.
                var rows = 0
                var previous: Float = 0, current: Float = 0, next: Float = 0, first: Float = 0, last: Float = 0
                var entropy: Float = 0, normalized: Float = 0, distance: Float = 0
                var offsets = [Float](repeating: 0, count: 2 * T + 1)
                for i in 0..<T {
                    let seen = isCausal ? i + 1 : T
                    guard seen >= 2 else { continue }
                    rows += 1
                    if i > 0 { previous += p[i * T + i - 1] }
                    current += p[i * T + i]
                    if i + 1 < T { next += p[i * T + i + 1] }
                    first += p[i * T]
                    if !isCausal { last += p[i * T + T - 1] }
                    var h: Float = 0
                    for j in 0..<seen {
                        let v = p[i * T + j]
                        if v > 0 { h -= v * logf(v) }
                        distance += v * Float(abs(i - j))
                        offsets[j - i + T] += v
                    }
                    entropy += h
                    normalized += h / logf(Float(seen))
                }
                let n = Float(max(rows, 1))
                var bestOffset = 0, bestOffsetScore: Float = 0
                for (k, total) in offsets.enumerated() where ![-1, 0, 1].contains(k - T) && total / n > bestOffsetScore {
                    bestOffset = k - T
                    bestOffsetScore = total / n
                }
                let updates = updates(layer: layer, head: head)
                let meanUpdate = updates.isEmpty ? 0 : updates.reduce(0, +) / Float(updates.count)
                var profile = HeadProfile(
                    layer: layer, head: head, previousToken: previous / n, currentToken: current / n, nextToken: next / n,
                    firstToken: first / n, lastToken: last / n, bestOffset: bestOffset, bestOffsetScore: bestOffsetScore,
                    entropy: entropy / n, normalizedEntropy: normalized / n, meanDistance: distance / n,
                    meanUpdateNorm: meanUpdate, relativeUpdate: 0, role: .mixed, roleScore: 0)
                let candidates: [(HeadRole, Float)] = [
                    (.previousToken, profile.previousToken), (.currentToken, profile.currentToken), (.nextToken, profile.nextToken),
                    (.firstToken, profile.firstToken), (.lastToken, profile.lastToken), (.fixedOffset, profile.bestOffsetScore),
                ]
                let best = candidates.max { $0.1 < $1.1 }!
                if best.1 >= threshold {
                    (profile.role, profile.roleScore) = best
                } else if profile.normalizedEntropy >= 0.75 {
                    (profile.role, profile.roleScore) = (.broad, profile.normalizedEntropy)
                } else {
                    (profile.role, profile.roleScore) = (.mixed, best.1)
                }
                layerProfiles.append(profile)
            }
            let layerMean = layerProfiles.map(\.meanUpdateNorm).reduce(0, +) / Float(max(layerProfiles.count, 1))
            for i in layerProfiles.indices { layerProfiles[i].relativeUpdate = layerMean > 0 ? layerProfiles[i].meanUpdateNorm / layerMean : 0 }
            out += layerProfiles
        }
        return out
    }
}
