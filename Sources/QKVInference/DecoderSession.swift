import QKVFormat

/// One sequence being decoded: its KV cache and the scratch space of the forward pass. Owned by one
/// caller at a time (not thread-safe); make one per concurrent generation from a shared `DecoderModel`.
///
/// The cache is laid out [layer][kv head][position][d], so attention for one head reads its keys and
/// values as one contiguous, sequential run, and a new token appends d floats per head.
public final class DecoderSession {
    /// Tokens a forward step handles at once by default; longer prompts go in chunks of this many.
    public static let defaultChunkTokens = 512

    /// Tokens one forward step handles at once here: a prompt fed in pieces of this size computes
    /// exactly what it computes fed whole.
    public let chunkTokens: Int

    /// The most tokens this session can hold.
    public let capacity: Int
    /// Tokens in the cache so far: the position of the next token.
    public internal(set) var length = 0
    /// The RoPE divisors every position of this session rotates with: chosen once for its capacity, so
    /// that all cached keys share one rotation (LongRoPE's long factors when the capacity exceeds
    /// `rope_original_context`, Specs/schema.md).
    let ropeFactors: [Float]?

    let layerStride: Int, headStride: Int, headDim: Int, keyValueHeads: Int
    let keyCache: UnsafeMutablePointer<Float>     // [layers, K, capacity, d]
    let valueCache: UnsafeMutablePointer<Float>   // [layers, K, capacity, d]

    // Scratch for one chunk of rows ≤ chunkTokens.
    let residual, normed, sublayer: UnsafeMutablePointer<Float>   // [rows, D]
    let query, heads: UnsafeMutablePointer<Float>                 // [rows, H·d]
    let key, value: UnsafeMutablePointer<Float>                   // [rows, K·d]
    let up, gate: UnsafeMutablePointer<Float>                     // [rows, F]
    let cos, sin: UnsafeMutablePointer<Float>                     // [rows, d/2]: each position's RoPE angles
    let slidingCos, slidingSin: UnsafeMutablePointer<Float>       // [rows, d/2]: the same with the sliding layers' base
    let logits: UnsafeMutablePointer<Float>                       // [V]: the last position's, for decoding

    /// The threads a forward pass may run on (its model's `ComputeContext`): each one's scratch is here,
    /// the threads themselves are the context's.
    let threads: Int
    let scoresStride: Int
    private let scoreBuffers: UnsafeMutablePointer<Float>         // [threads, min(rows, 64) · capacity]: one head's attention
    let tileFloats: Int
    private let tileBuffers: UnsafeMutablePointer<Float>          // [threads, tileFloats]: a widened tile of a weight
    private let allocations: [UnsafeMutablePointer<Float>]

    /// `withCache` false: scratch only (a `DecoderBatch`'s workspace, whose rows' caches are their own
    /// sessions'); `capacity` then sizes the attention scores only.
    /// `threads`: the threads whose scratch to hold (the context's count).
    init(config: ModelConfig, capacity: Int, chunkTokens: Int = DecoderSession.defaultChunkTokens, withCache: Bool = true, threads: Int) {
        self.capacity = capacity
        ropeFactors = config.rope?.frequencyFactors(forCapacity: capacity)
        let (D, H, K, d, F) = (config.modelDim, config.headCount, config.keyValueHeadCount, config.headDim, config.ffnDim)
        let rows = min(max(chunkTokens, 1), max(capacity, 1))
        self.chunkTokens = rows
        headDim = d
        keyValueHeads = K
        headStride = capacity * d
        layerStride = K * headStride
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            allocations.append(p)
            return p
        }
        keyCache = buffer(withCache ? config.layerCount * layerStride : 0)
        valueCache = buffer(withCache ? config.layerCount * layerStride : 0)
        residual = buffer(rows * D); normed = buffer(rows * D); sublayer = buffer(rows * D)
        query = buffer(rows * H * d); heads = buffer(rows * H * d)
        key = buffer(rows * K * d); value = buffer(rows * K * d)
        up = buffer(rows * F); gate = buffer(config.gatedMLP ? rows * F : 1)
        cos = buffer(rows * d / 2); sin = buffer(rows * d / 2)
        let slidingBase = config.rope?.slidingTheta != nil
        slidingCos = buffer(slidingBase ? rows * d / 2 : 1); slidingSin = buffer(slidingBase ? rows * d / 2 : 1)
        logits = buffer(config.vocabSize)
        self.threads = max(1, threads)
        // One head's scores at a time: a block of a chunk's queries, or one query of a batch step.
        scoresStride = min(rows, causalBlockTokens) * capacity
        scoreBuffers = buffer(self.threads * scoresStride)
        tileFloats = WeightMatrix.scratchFloats(modelDim: D, ffnDim: F, headsTimesHeadDim: H * d)
        tileBuffers = buffer(self.threads * tileFloats)
        self.allocations = allocations
    }

    /// Thread `thread`'s scratch for one head's attention scores [rows, capacity].
    func scores(_ thread: Int) -> UnsafeMutablePointer<Float> { scoreBuffers + thread * scoresStride }
    /// Thread `thread`'s scratch for a widened tile of a weight [tileFloats].
    func tile(_ thread: Int) -> UnsafeMutablePointer<Float> { tileBuffers + thread * tileFloats }

    deinit { for p in allocations { p.deallocate() } }

    /// Forgets every token, keeping the memory: the next forward starts at position 0.
    public func reset() { length = 0 }

    /// Copies the new tokens' keys and values k, v [tokens, K·d] into the cache after `length`.
    func append(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, tokens: Int, layer: Int) {
        let d = headDim
        for t in 0..<tokens {
            for head in 0..<keyValueHeads {
                let at = layer * layerStride + head * headStride + (length + t) * d
                (keyCache + at).update(from: k + t * keyValueHeads * d + head * d, count: d)
                (valueCache + at).update(from: v + t * keyValueHeads * d + head * d, count: d)
            }
        }
    }

    /// The cached keys of one layer's kv head: [capacity, d], positions 0..<length filled.
    func keys(layer: Int, head: Int) -> UnsafeMutablePointer<Float> { keyCache + layer * layerStride + head * headStride }
    /// The cached values of one layer's kv head: [capacity, d].
    func values(layer: Int, head: Int) -> UnsafeMutablePointer<Float> { valueCache + layer * layerStride + head * headStride }
}
